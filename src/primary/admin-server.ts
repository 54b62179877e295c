import http from 'node:http';
import type { HealthAnswer } from '../shared/health-types.js';
import type { Logger } from '../shared/logger.js';
import { isReady } from './health.js';

export interface AdminHandlers {
  health: () => HealthAnswer;
  metrics: () => Promise<{ contentType: string; body: string }>;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(payload);
}

/** The primary's admin server: what load balancers, systemd and Prometheus talk to. */
export function createAdminServer(handlers: AdminHandlers, log: Logger): http.Server {
  return http.createServer((req, res) => {
    try {
      route(req, res);
    } catch (error) {
      // A bug here must cost one answer, never the primary (and with it every worker).
      log.error({ err: error, url: req.url }, 'admin request failed');
      if (!res.headersSent) sendJson(res, 500, { success: false, message: 'Internal server error' });
      else res.destroy();
    }
  });

  function route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendJson(res, 405, { success: false, message: 'Method not allowed' });
    }
    switch (path) {
      case '/health': {
        const answer = handlers.health();
        return sendJson(res, answer.httpStatus, answer.body);
      }
      case '/health/live':
        return sendJson(res, 200, { status: 'alive' });
      case '/health/ready': {
        const ready = isReady(handlers.health());
        return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
      }
      case '/metrics':
        Promise.resolve()
          .then(handlers.metrics)
          .then(({ contentType, body }) => {
            res.writeHead(200, { 'Content-Type': contentType });
            res.end(body);
          })
          .catch((error: Error) => {
            log.error({ err: error }, 'metrics scrape failed');
            sendJson(res, 500, { success: false, message: 'metrics unavailable' });
          });
        return;
      default:
        return sendJson(res, 404, { success: false, message: 'Not found' });
    }
  }
}
