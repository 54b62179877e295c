/**
 * `npm run bench`: the operational benchmarks of issue 5, measured in one run on this
 * machine against the real compiled service, printed as a summary table and written to
 * docs/BENCHMARKS.md (between its results markers).
 *
 * Exit codes: 0 all correctness goals met; 1 a correctness goal missed (a failed request
 * during our rolling restart, an in-flight request lost on SIGTERM); 2 the harness failed.
 * BENCH_QUICK=1 runs every phase briefly and writes its report to a temporary file instead;
 * BENCH_SECTIONS=6 (a comma-separated list of section numbers) runs only those sections, at
 * full length, and also writes its report to a temporary file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dropCreatedDatabases, uniqueDatabaseUrl } from '../test/support/databases.js';
import { killAllPulse, PROJECT_ROOT, startPulse, type PulseProcess, type StartOptions } from '../test/support/pulse-process.js';
import { startSocketActivated } from '../test/support/socket-activated.js';
import { Pm2, startBareKoaCluster } from './lib/bare-koa.js';
import { cleanupAll, onCleanup } from './lib/cleanup.js';
import { limiterlessBuild } from './lib/limiterless-build.js';
import { seedJournal, type JournalFixture } from './lib/journal-fixture.js';
import { describeMachine, loadAverage } from './lib/machine.js';
import { RedisServerProcess } from '../test/support/redis-server.js';
import { consoleTable, resultsMarkdown, writeResults, type SectionResult } from './lib/report.js';
import { benchSettings, type BenchSettings } from './lib/settings.js';
import { benchMetricsScrape } from './sections/metrics-scrape.js';
import { benchPrimaryRestart } from './sections/primary-restart.js';
import { benchRedisBrownout } from './sections/redis-brownout.js';
import { benchRollingRestart, type LoadTarget } from './sections/rolling-restart.js';
import { benchSigterm } from './sections/sigterm.js';
import { benchThroughput } from './sections/throughput.js';
import { benchWorkerCrash } from './sections/worker-crash.js';

const RESULTS_FILE = path.join(PROJECT_ROOT, 'docs/BENCHMARKS.md');
const DOC_SKELETON = '# Benchmarks\n\nWritten by `npm run bench` (bench/run.ts).\n';
const EXIT_GOAL_MISSED = 1;
const EXIT_HARNESS_FAILED = 2;
/** High enough that the limiter never blocks the load generator; it still runs (Redis) on every request. */
const UNLIMITED_RATE = '1000000000';

const began = Date.now();
const log = (line: string) => process.stdout.write(`[bench +${((Date.now() - began) / 1000).toFixed(1)}s] ${line}\n`);

function target(pulse: PulseProcess, path: string, headers?: Record<string, string>): LoadTarget {
  return { port: pulse.port, url: `${pulse.url}${path}`, path, headers };
}

async function startCluster(workers: number, env: Record<string, string> = {}, entry?: string): Promise<PulseProcess> {
  // Access lines (on, as in production) are written by Pulse but not parsed or kept here.
  const pulse = await startPulse({ workers, entry, dropAccessLines: true, env: { DATABASE_URL: uniqueDatabaseUrl('bench'), RATE_LIMIT_MAX: UNLIMITED_RATE, ...env } });
  // startPulse makes a temporary directory for the control socket; it goes with the run.
  onCleanup('remove the control socket directory', async () => fs.rmSync(path.dirname(pulse.env.CONTROL_SOCKET!), { recursive: true, force: true }));
  return pulse;
}

/** Runs one section and notes how busy the machine was when it started. */
async function section(title: string, run: () => Promise<SectionResult>): Promise<SectionResult> {
  const load = loadAverage();
  log(`${title} (1-minute load average ${load})`);
  const result = await run();
  const note = `_1-minute load average when this section started: ${load} (the benchmark itself keeps both cores busy; well above 3 means other work competed)._`;
  return { ...result, details: `${note}\n\n${result.details}` };
}

async function runSections(): Promise<SectionResult[]> {
  const settings = benchSettings();
  const wanted = (number: number) => settings.sections === undefined || settings.sections.includes(number);
  const sections: SectionResult[] = [];

  if (wanted(1) || wanted(2) || wanted(3)) {
    log(`starting a Pulse cluster (${settings.workers} workers); seeding ${settings.entries} entries`);
    const pulse = await startCluster(settings.workers);
    const fixture: JournalFixture = await seedJournal(pulse, settings.entries, settings.deepRow);
    const limit = settings.pageLimit;
    const pageOne = target(pulse, `/entries?page=1&limit=${limit}`, fixture.headers);

    if (wanted(1)) {
      log('starting a bare Koa cluster, and a third Pulse cluster from the ablation build without the rate limiter');
      const bare = await startBareKoaCluster(settings.workers);
      const limiterlessPulse = await startCluster(settings.workers, {}, limiterlessBuild());
      const limiterless = { pulse: limiterlessPulse, fixture: await seedJournal(limiterlessPulse, settings.entries, settings.deepRow) };
      sections.push(await section('1. throughput', () => benchThroughput(pulse, bare, fixture, limiterless, settings, log)));
      await bare.stop();
      await limiterlessPulse.stop();
    }

    if (wanted(2)) {
      const pm2 = await Pm2.create();
      const reloadTargets = { ping: target(pulse, '/ping'), entries: pageOne };
      sections.push(await section('2. rolling restart under load (Pulse, then pm2)', () => benchRollingRestart(pulse, reloadTargets, pm2, settings, log)));
      await pm2.kill();
    }

    if (wanted(3)) {
      const deepOffset = target(pulse, `/entries?page=${settings.deepRow / limit + 1}&limit=${limit}`, fixture.headers);
      sections.push(await section('3. SIGTERM under load', () => benchSigterm(pulse, deepOffset, settings, log)));
    } else {
      await pulse.stop();
    }
  }

  if (wanted(4) || wanted(5)) {
    log('starting a second Pulse cluster for the worker crash and /metrics (DATABASE_POOL_MAX=2)');
    // Up to 16 workers below: a small pool each keeps Postgres far from max_connections.
    const second = await startCluster(settings.workers, { DATABASE_POOL_MAX: '2' });
    if (wanted(5)) sections.push(await section('5. worker crash', () => benchWorkerCrash(second, target(second, '/ping'), settings, log)));
    if (wanted(4)) sections.push(await section('4. /metrics scrape latency', () => benchMetricsScrape(second, target(second, '/ping'), settings, log)));
    await second.stop();
  }

  if (wanted(6)) sections.push(await section('6. Redis brownout', () => redisBrownout(settings)));

  if (wanted(7)) {
    const restartEnv = { RATE_LIMIT_MAX: UNLIMITED_RATE };
    const start = (options: StartOptions) => startPulse({ ...options, env: { DATABASE_URL: uniqueDatabaseUrl('bench'), ...restartEnv, ...options.env } });
    sections.push(
      await section('7. primary restart under load', () =>
        benchPrimaryRestart(start, () => startSocketActivated(start, { workers: settings.workers, env: restartEnv }), settings, log),
      ),
    );
  }

  return sections.sort((a, b) => a.title.localeCompare(b.title));
}

/**
 * The tests' shared Redis must not be frozen: the brownout runs on a private redis-server, with
 * two clusters on it: Pulse as configured, and an ablation whose breaker a 10 s hang never opens.
 */
async function redisBrownout(settings: BenchSettings): Promise<SectionResult> {
  log('starting a private redis-server and two Pulse clusters on it (as configured; REDIS_BREAKER_THRESHOLD=1000)');
  const redis = await RedisServerProcess.start();
  const stopRedis = onCleanup('stop the private redis-server', () => redis.close());
  const clusters: PulseProcess[] = [];
  try {
    const seeded = async (env: Record<string, string>) => {
      const pulse = await startCluster(settings.workers, { REDIS_URL: redis.url, ...env });
      clusters.push(pulse);
      return { pulse, fixture: await seedJournal(pulse, settings.entries, settings.deepRow) };
    };
    const real = await seeded({});
    const ablation = await seeded({ REDIS_BREAKER_THRESHOLD: '1000' });
    const keysetPage = `/entries?cursor=&limit=${settings.pageLimit}`;
    const pageOne = `/entries?page=1&limit=${settings.pageLimit}`;
    return await benchRedisBrownout(
      [
        { label: 'Pulse, first keyset page', pulse: real.pulse, target: target(real.pulse, keysetPage, real.fixture.headers), judged: true },
        {
          label: 'Pulse, offset page 1 (cached)',
          pulse: real.pulse,
          target: target(real.pulse, pageOne, real.fixture.headers),
          withoutCache: target(real.pulse, `${pageOne}&from=1970-01-01`, real.fixture.headers),
        },
        {
          label: 'ablation: breaker never opening (REDIS_BREAKER_THRESHOLD=1000), first keyset page',
          pulse: ablation.pulse,
          target: target(ablation.pulse, keysetPage, ablation.fixture.headers),
          ablation: true,
        },
      ],
      redis,
      settings,
      log,
    );
  } finally {
    for (const pulse of clusters) await pulse.stop();
    await stopRedis();
  }
}

async function main(): Promise<number> {
  onCleanup('drop the benchmark databases', dropCreatedDatabases);
  onCleanup('stop every Pulse cluster', killAllPulse);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      void cleanupAll(log).finally(() => process.exit(130));
    });
  }

  let settings: BenchSettings;
  try {
    settings = benchSettings();
  } catch (error) {
    log((error as Error).message);
    return EXIT_HARNESS_FAILED;
  }
  const machine = await describeMachine();
  const loadBefore = loadAverage();
  const partial = settings.sections === undefined ? '' : ` (BENCH_SECTIONS: only ${settings.sections.join(', ')}, report to a temporary file)`;
  log(`machine: nproc ${machine.nproc}, node ${machine.node}, load average ${loadBefore}${settings.quick ? ' (BENCH_QUICK: short phases, report to a temporary file)' : ''}${partial}`);
  let sections: SectionResult[];
  try {
    sections = await runSections();
  } catch (error) {
    log(`benchmark harness failed: ${(error as Error).stack ?? String(error)}`);
    await cleanupAll(log);
    return EXIT_HARNESS_FAILED;
  }
  await cleanupAll(log);

  const failures = sections.flatMap((s) => s.failures);
  process.stdout.write(`\n${consoleTable(sections)}\n\n`);
  const report = {
    command: [settings.quick ? 'BENCH_QUICK=1' : '', settings.sections ? `BENCH_SECTIONS=${settings.sections.join(',')}` : '', 'npm run bench']
      .filter(Boolean)
      .join(' '),
    machine,
    durationS: (Date.now() - began) / 1000,
    loadBefore,
    loadAfter: loadAverage(),
    sections,
    failures,
  };
  // A quick run's numbers are not worth recording, and a partial run must not replace the last
  // full one: their reports go to a temporary file.
  const resultsFile = settings.quick || settings.sections ? path.join(os.tmpdir(), `pulse-bench-${settings.quick ? 'quick' : 'sections'}.md`) : RESULTS_FILE;
  writeResults(resultsFile, resultsMarkdown(report), DOC_SKELETON);
  log(`results written to ${path.relative(PROJECT_ROOT, resultsFile)}`);
  if (failures.length > 0) {
    log(`CORRECTNESS GOALS MISSED:\n  - ${failures.join('\n  - ')}`);
    return EXIT_GOAL_MISSED;
  }
  log('all correctness goals met');
  return 0;
}

process.exitCode = await main();
