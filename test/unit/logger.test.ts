import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { closeRedis, createRedis } from '../../src/cache/redis.js';
import { createLogger, serializeError } from '../../src/shared/logger.js';
import { freePort } from '../support/ports.js';
import { PROJECT_ROOT } from '../support/pulse-process.js';
import { waitFor } from '../support/wait.js';

const LOGGER_MODULE = path.join(PROJECT_ROOT, 'dist/src/shared/logger.js');

/** A process that logs one line per level through createLogger, its stdout and stderr going to files. */
function logEveryLevel(journalStreamOf?: 'stdout' | 'stderr') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-logger-'));
  const files = { stdout: path.join(dir, 'out'), stderr: path.join(dir, 'err') };
  const fds = { stdout: fs.openSync(files.stdout, 'w'), stderr: fs.openSync(files.stderr, 'w') };
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
  if (journalStreamOf) {
    const { dev, ino } = fs.fstatSync(fds[journalStreamOf]);
    env.JOURNAL_STREAM = `${dev}:${ino}`;
  }
  const script = `
    const { createLogger } = await import(${JSON.stringify(LOGGER_MODULE)});
    const log = createLogger('test', 'trace');
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) log[level]({ n: 1 }, level);`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, stdio: ['ignore', fds.stdout, fds.stderr] });
  fs.closeSync(fds.stdout);
  fs.closeSync(fds.stderr);
  const read = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const output = { status: result.status, pid: result.pid, stdout: read(files.stdout), stderr: read(files.stderr) };
  fs.rmSync(dir, { recursive: true, force: true });
  return output;
}

const msgOf = (line: string) => (JSON.parse(line.replace(/^<\d>/, '')) as { msg: string }).msg;

describe('logger', () => {
  it('writes errors and fatals to stderr and every other level to stdout, each line JSON with pid, hostname and role', () => {
    const { status, pid, stdout, stderr } = logEveryLevel();
    expect(status).to.equal(0);
    expect(stdout.map(msgOf)).to.deep.equal(['trace', 'debug', 'info', 'warn']);
    expect(stderr.map(msgOf)).to.deep.equal(['error', 'fatal']);
    for (const line of [...stdout, ...stderr]) {
      expect(JSON.parse(line)).to.include({ pid, hostname: os.hostname(), role: 'test' });
    }
  });

  it('prefixes the syslog priority on a stream systemd connected to the journal (JOURNAL_STREAM), and only there', () => {
    const toJournal = logEveryLevel('stderr');
    expect(toJournal.stderr.map((line) => line.slice(0, 3))).to.deep.equal(['<3>', '<2>']);
    expect(toJournal.stderr.map(msgOf)).to.deep.equal(['error', 'fatal']);
    expect(toJournal.stdout.every((line) => line.startsWith('{'))).to.equal(true);

    const stdoutToJournal = logEveryLevel('stdout');
    expect(stdoutToJournal.stdout.map((line) => line.slice(0, 3))).to.deep.equal(['<7>', '<7>', '<6>', '<4>']);
    expect(stdoutToJournal.stderr.every((line) => line.startsWith('{'))).to.equal(true);
  });

  describe('err', () => {
    const capture = () => {
      const lines: Record<string, any>[] = [];
      const log = createLogger('test', 'debug', { write: (line: string) => void lines.push(JSON.parse(line)) });
      return { log, lines };
    };

    it('keeps a node-redis connection error\'s message, code and stack', async () => {
      const { log, lines } = capture();
      const port = await freePort();
      const redis = createRedis(`redis://127.0.0.1:${port}`, log);
      redis.connect().catch(() => undefined);
      try {
        const line = (await waitFor(() => lines.find((l) => l.msg === 'redis error'), 'a redis error to be logged'))!;
        expect(line.err).to.include({ type: 'Error', code: 'ECONNREFUSED', message: `connect ECONNREFUSED 127.0.0.1:${port}` });
        expect(line.err.stack).to.match(/^Error: connect ECONNREFUSED[^\n]*\n\s+at /);
      } finally {
        redis.destroy();
        await closeRedis(redis);
      }
    });

    it('gives an AggregateError with an empty message (every address of a host refused) its inner messages', () => {
      const refused = Object.assign(new AggregateError([new Error('connect ECONNREFUSED ::1:6379'), new Error('connect ECONNREFUSED 127.0.0.1:6379')], ''), {
        code: 'ECONNREFUSED',
      });
      const { log, lines } = capture();
      log.warn({ err: refused }, 'redis error');
      expect(lines[0]!.err).to.include({
        type: 'AggregateError',
        code: 'ECONNREFUSED',
        message: 'connect ECONNREFUSED ::1:6379; connect ECONNREFUSED 127.0.0.1:6379',
      });
      expect(lines[0]!.err.stack).to.include('AggregateError');
    });

    it('logs a plain object as given (no made-up type or empty stack), and anything else as its string', () => {
      expect(serializeError({ message: 'deadline', code: 'ETIMEDOUT' })).to.deep.equal({ message: 'deadline', code: 'ETIMEDOUT' });
      expect(serializeError('thrown string')).to.deep.equal({ message: 'thrown string' });
    });
  });
});
