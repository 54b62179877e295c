import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { CONFIG_VARIABLES } from '../../src/shared/config.js';
import { PROJECT_ROOT } from '../support/pulse-process.js';

describe('README stays true', () => {
  const readme = fs.readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');

  it('documents every environment variable Pulse reads in its configuration table', () => {
    const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Signals'));
    const documented = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect([...documented].sort()).to.deep.equal([...CONFIG_VARIABLES].sort());
  });

  it('gives the start and test commands', () => {
    expect(readme).to.include('npm ci && npm start');
    expect(readme).to.include('npm ci && npm test');
  });
});
