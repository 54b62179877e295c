import http from 'node:http';
import type { Duplex } from 'node:stream';
import { REQUEST_ID_HEADER, newRequestId } from '../app/request-id.js';

/**
 * Answers on a bare socket, for what never became a request Koa saw (a parser error, headers
 * that never completed): the usual JSON envelope and a request id, then the connection closes.
 */
export function answerOnSocket(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ success: false, message });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `${REQUEST_ID_HEADER}: ${newRequestId()}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
