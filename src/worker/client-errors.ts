import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { answerOnSocket } from './raw-answer.js';

const ANSWERS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request header fields too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request timeout'],
};

/**
 * Requests Node's HTTP parser rejects never reach Koa; answer them with the same JSON
 * envelope as everything else instead of Node's empty-bodied default, and a request id
 * like every other answer (a new one: the request's own headers were not parsed).
 */
export function answerClientErrorsWithJson(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const headersSent = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (error.code === 'ECONNRESET' || !socket.writable || headersSent) {
      socket.destroy();
      return;
    }
    const [status, message] = ANSWERS[error.code ?? ''] ?? [400, 'Bad request'];
    answerOnSocket(socket, status, message);
  });
}
