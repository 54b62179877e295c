import { RedisServerProcess } from './redis-server.js';
import { cuttableDatabase, TcpProxy } from './tcp-proxy.js';

/**
 * For a suite whose tests break dependencies: the private redis-servers and TCP proxies a
 * test makes through it are stopped after that test.
 */
export function faultsPerTest() {
  const servers: RedisServerProcess[] = [];
  const proxies: TcpProxy[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
    for (const proxy of proxies.splice(0)) await proxy.cut();
  });
  return {
    /** A private redis-server, started (on `port` if given). */
    async redis(port?: number): Promise<RedisServerProcess> {
      const server = port === undefined ? await RedisServerProcess.start() : new RedisServerProcess(port);
      servers.push(server);
      if (port !== undefined) await server.restart();
      return server;
    },
    /** A fresh database reached through a started proxy the test can cut. */
    async database(label: string): Promise<{ proxy: TcpProxy; databaseUrl: string }> {
      const cuttable = await cuttableDatabase(label);
      proxies.push(cuttable.proxy);
      return cuttable;
    },
    /** A TCP proxy to the target, not started yet. */
    proxy(host: string, port: number): TcpProxy {
      const proxy = new TcpProxy(host, port);
      proxies.push(proxy);
      return proxy;
    },
  };
}
