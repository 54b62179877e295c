import { expect } from 'chai';
import { runMigrations } from '../../src/db/migrations-runner.js';
import { uniqueDatabaseUrl } from '../support/databases.js';

describe('migrations run by several primaries at once (a fleet started together)', function () {
  this.timeout(60_000);

  it('all succeed on a database none of them found: one creates it, one applies the migrations, the others wait for it', async () => {
    const url = uniqueDatabaseUrl('concurrent');
    const results = await Promise.all([runMigrations(url), runMigrations(url), runMigrations(url)]);
    expect(results.filter((r) => r.createdDatabase)).to.have.length(1);
    const applied = results.map((r) => r.applied.length).sort();
    expect(applied[0]).to.equal(0);
    expect(applied[2]).to.be.above(0);
    expect(applied.filter((n) => n > 0)).to.have.length(1);
  });
});
