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

/** The remote ports of the TCP connections `pid` holds (Linux /proc): whom the process talks to. */
export function tcpRemotePorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    const match = /^socket:\[(\d+)\]$/.exec(safeReadlink(`/proc/${pid}/fd/${fd}`) ?? '');
    if (match) inodes.add(match[1]!);
  }
  return tcpSockets()
    .filter((socket) => inodes.has(socket.inode))
    .map((socket) => parseInt(socket.remote.split(':').pop()!, 16));
}

function serverSocketInode(serverPort: number, clientPort: number): string | undefined {
  const local = `:${hexPort(serverPort)}`;
  const remote = `:${hexPort(clientPort)}`;
  return tcpSockets().find((socket) => socket.local.endsWith(local) && socket.remote.endsWith(remote))?.inode;
}

/** Every socket of the kernel's TCP tables, addresses as /proc writes them (hex `address:port`). */
function tcpSockets(): { local: string; remote: string; inode: string }[] {
  const sockets = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const rows = fs.readFileSync(table, 'utf8').split('\n').slice(1);
    for (const row of rows) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = row.trim().split(/\s+/);
      if (fields.length > 9) sockets.push({ local: fields[1]!, remote: fields[2]!, inode: fields[9]! });
    }
  }
  return sockets;
}

function safeReadlink(file: string): string | undefined {
  try {
    return fs.readlinkSync(file);
  } catch {
    return undefined;
  }
}
