import crypto from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import type { StatusOutcome } from '../../src/shared/control-protocol.js';
import { runCtl } from '../support/ctl.js';
import { POSTGRES_ADMIN_URL, uniqueDatabaseUrl } from '../support/databases.js';
import { sendJson, signUpThrough } from '../support/journal-client.js';
import { healthUntil } from '../support/observe.js';
import { type PulseProcess, pulsePerTest } from '../support/pulse-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait.js';

/** Reads the service's database directly (never through the proxy). */
async function query<T extends pg.QueryResultRow>(pulse: PulseProcess, sql: string, values: unknown[]): Promise<T[]> {
  const url = new URL(pulse.env.DATABASE_URL!);
  url.port = new URL(POSTGRES_ADMIN_URL).port || '5432';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** Requests each worker has served, as its last health report says (pid to count). */
async function servedByWorker(pulse: PulseProcess): Promise<Map<number, number>> {
  const status = JSON.parse((await runCtl(['status', '--json'], pulse.env)).stdout) as StatusOutcome;
  return new Map(status.workers.map((w) => [w.pid, w.requests_served ?? 0]));
}

const entriesOf = async (pulse: PulseProcess, userId: number) =>
  query<{ id: string }>(pulse, 'SELECT id FROM entries WHERE user_id = $1 ORDER BY id', [userId]);

describe('Idempotency-Key across the workers of the real cluster', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    await proxy?.cut();
    proxy = undefined;
  });

  it('retries on fresh connections (each to the next worker), sequential and concurrent, create one entry and all get its answer', async () => {
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: '100000' } });
    const { token, userId } = await signUpThrough(pulse);
    const servedBefore = await servedByWorker(pulse);
    const body = { text: 'booked the flights', mood: 8, category: 'travel' };
    const send = (key: string) => sendJson(pulse, 'POST', '/entries', { token, body, headers: { 'Idempotency-Key': key } });

    const sequential = [];
    for (let i = 0; i < 6; i += 1) sequential.push(await send('trip-1'));
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => send('trip-2')));

    for (const answers of [sequential, concurrent]) {
      expect(answers.map((a) => a.status)).to.deep.equal(Array(answers.length).fill(201));
      expect(new Set(answers.map((a) => a.body.id)).size, 'one id for every answer').to.equal(1);
      expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).to.have.length(answers.length - 1);
    }
    expect((await entriesOf(pulse, userId)).map((row) => Number(row.id))).to.deep.equal([sequential[0]!.body.id, concurrent[0]!.body.id].sort((a, b) => a - b));
    const other = await sendJson(pulse, 'POST', '/entries', { token, body: { ...body, mood: 2 }, headers: { 'Idempotency-Key': 'trip-1' } });
    expect(other.status).to.equal(422);
    await waitFor(async () => {
      const served = await servedByWorker(pulse);
      return [...servedBefore].every(([pid, before]) => (served.get(pid) ?? 0) >= before + 3);
    }, 'both workers to have served some of the requests');
  });

  /**
   * Postgres behind a proxy that holds the server's reply to a COMMIT: a keyed POST's
   * transaction is committed, and the worker that sent it is left waiting for the reply.
   */
  async function commitWithReplyHeld(env: Record<string, string> = {}) {
    const held = (proxy = new TcpProxy('127.0.0.1', 5432));
    await held.start();
    const databaseUrl = new URL(uniqueDatabaseUrl('idempotent_commit'));
    databaseUrl.port = String(held.port);
    const pulse = await pulses.start({ workers: 2, env: { DATABASE_URL: databaseUrl.toString(), RATE_LIMIT_MAX: '100000', ...env } });
    const { token, userId } = await signUpThrough(pulse);
    const key = crypto.randomUUID();
    const body = { text: 'transferred the deposit', mood: 6, category: 'money' };
    const send = () => sendJson(pulse, 'POST', '/entries', { token, body, headers: { 'Idempotency-Key': key } });

    const commitHeld = held.holdReplyAfter('COMMIT');
    const firstAttempt = send().then(
      (answer) => ({ answer }),
      (error: Error) => ({ error }),
    );
    await Promise.race([
      commitHeld,
      firstAttempt.then((outcome) => {
        throw new Error(`the request ended without a COMMIT (no transaction): ${JSON.stringify(outcome)}`);
      }),
    ]);
    await waitFor(async () => (await entriesOf(pulse, userId)).length === 1, 'the entry to be committed');
    const committedId = Number((await entriesOf(pulse, userId))[0]!.id);
    return { pulse, userId, send, firstAttempt, committedId };
  }

  async function expectReplayOf(committedId: number, retry: Awaited<ReturnType<typeof sendJson>>, entries: { id: string }[]) {
    expect(retry.status).to.equal(201);
    expect(retry.body).to.deep.equal({ success: true, message: 'Entry created successfully', id: committedId });
    expect(retry.headers.get('idempotent-replayed')).to.equal('true');
    expect(entries.map((row) => Number(row.id)), 'no duplicate').to.deep.equal([committedId]);
  }

  it('a worker killed between COMMIT and its answer: the retry replays the committed answer, no duplicate', async () => {
    // A statement deadline long enough that the worker is still waiting when it is killed.
    const { pulse, userId, send, firstAttempt, committedId } = await commitWithReplyHeld({ DATABASE_STATEMENT_TIMEOUT_MS: '60000' });
    const busy = await healthUntil(pulse, (r) => r.body.details.some((d) => (d.inflight ?? 0) > 0), 'the worker holding the request to report it', 5000);
    const victim = busy.body.details.find((d) => (d.inflight ?? 0) > 0)!.pid;
    process.kill(victim, 'SIGKILL');

    expect(await firstAttempt, 'the client never got an answer').to.have.property('error');
    proxy!.heal();
    await healthUntil(pulse, (r) => r.httpStatus === 200 && !r.body.details.some((d) => d.pid === victim), 'a replacement worker, healthy', 20_000);
    await expectReplayOf(committedId, await send(), await entriesOf(pulse, userId));
  });

  it("COMMIT's reply lost (answered 503 at the statement deadline though committed): the retry replays, no duplicate", async () => {
    const { pulse, userId, send, firstAttempt, committedId } = await commitWithReplyHeld();
    const outcome = await firstAttempt;
    expect(outcome).to.have.property('answer');
    expect((outcome as { answer: { status: number } }).answer.status).to.equal(503);
    proxy!.heal();
    await expectReplayOf(committedId, await send(), await entriesOf(pulse, userId));
  });
});
