import fs from 'node:fs';

const hexPort = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');

/**
 * The pid, among `pids`, that holds the server side of the local TCP connection from
 * `clientPort` to `serverPort` (Linux /proc): which cluster worker a connection landed on.
 */
export function serverSocketOwner(serverPort: number, clientPort: number, pids: number[]): number | undefined {
  const inode = serverSocketInode(serverPort, clientPort);
  if (!inode) return undefined;
  const link = `socket:[${inode}]`;
  return pids.find((pid) => {
    try {
      return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => safeReadlink(`/proc/${pid}/fd/${fd}`) === link);
    } catch {
      return false;
    }
  });
}

function serverSocketInode(serverPort: number, clientPort: number): string | undefined {
  const local = `:${hexPort(serverPort)}`;
  const remote = `:${hexPort(clientPort)}`;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const rows = fs.readFileSync(table, 'utf8').split('\n').slice(1);
    for (const row of rows) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = row.trim().split(/\s+/);
      if (fields[1]?.endsWith(local) && fields[2]?.endsWith(remote)) return fields[9];
    }
  }
  return undefined;
}

function safeReadlink(file: string): string | undefined {
  try {
    return fs.readlinkSync(file);
  } catch {
    return undefined;
  }
}
