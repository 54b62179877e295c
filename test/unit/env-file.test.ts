import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { EnvFileError, loadEnvFile, parseEnvFile, readEnvFile } from '../../src/shared/env-file.js';
import { PROJECT_ROOT } from '../support/pulse-process.js';

const variables = (text: string) => {
  const parsed = parseEnvFile(text);
  expect(parsed.problems, JSON.stringify(parsed.problems)).to.deep.equal([]);
  return parsed.variables;
};

describe('environment files (systemd EnvironmentFile= syntax)', () => {
  it('reads NAME=value lines, skipping blank lines and # or ; comments', () => {
    expect(variables('# comment\n; another\n\nPORT=8080\n  WORKERS=4\n')).to.deep.equal({ PORT: '8080', WORKERS: '4' });
  });

  it('strips whitespace around the name and the unquoted value, keeps it inside, and keeps quotes after the first character', () => {
    expect(variables('A = spaced value  \t\nB=it\'s "fine"\nC=\n')).to.deep.equal({ A: 'spaced value', B: 'it\'s "fine"', C: '' });
  });

  it('takes backslash escapes in unquoted values, and a trailing backslash continues the line', () => {
    expect(variables('A=a\\ b\\\\c\nB=one \\\n  two\nC=x\\ \nD=kept \\\n\nE=1 # not a comment\n')).to.deep.equal({ A: 'a b\\c', B: 'one   two', C: 'x ', D: 'kept ', E: '1 # not a comment' });
  });

  it('reads single quotes literally and double quotes with shell escapes, both across lines and joined with unquoted parts', () => {
    expect(variables("A='$HOME \\n literal'\nB=\"say \\\"hi\\\" \\$5 \\\\ \\n\"\nC='line one\nline two'\nD=\"a\"'b'c\nE=  \"  padded  \"  \n")).to.deep.equal({
      A: '$HOME \\n literal',
      B: 'say "hi" $5 \\ \\n',
      C: 'line one\nline two',
      D: 'abc',
      E: '  padded  ',
    });
  });

  it('lets a later assignment win, reads CRLF files, expands nothing', () => {
    expect(variables('A=1\r\nB=${A}\r\nA=2\r\n')).to.deep.equal({ A: '2', B: '${A}' });
  });

  it('reports, with line numbers, what systemd would silently ignore or swallow', () => {
    const { variables: parsed, problems } = parseEnvFile('OK=1\nexport PORT=80\nWORKERS 4\n1BAD=x\nJWT_SECRET="unterminated\nLOG_LEVEL=debug\n');
    expect(problems.map((p) => p.line)).to.deep.equal([2, 3, 4, 5]);
    expect(problems[0]!.message).to.include('`export` is not supported');
    expect(problems[1]!.message).to.include('no "="');
    expect(problems[2]!.message).to.include('"1BAD" is not a valid variable name');
    expect(problems[3]!.message).to.include('never closed');
    // What systemd itself would pass: the quote swallows the rest of the file.
    expect(parsed).to.deep.equal({ OK: '1', JWT_SECRET: 'unterminated\nLOG_LEVEL=debug\n' });
  });

  it('parses the shipped deploy/systemd/pulse.env.example without a problem', () => {
    const parsed = variables(fs.readFileSync(path.join(PROJECT_ROOT, 'deploy/systemd/pulse.env.example'), 'utf8'));
    expect(parsed).to.include({ JWT_SECRET: '', PORT: '8080', REDIS_KEY_PREFIX: 'pulse:' });
  });

  describe('loadEnvFile', () => {
    let dir: string;
    before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-envfile-'))));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, content: string | Buffer) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, content);
      return file;
    };

    it('returns the variables of a clean file', () => {
      expect(loadEnvFile(write('ok.env', 'PORT=9000\nWORKERS=2\n'))).to.deep.equal({ PORT: '9000', WORKERS: '2' });
    });

    it('refuses a file with a problem, naming the file and the first line', () => {
      const file = write('bad.env', 'PORT=9000\nWORKERS=2\nexport LOG_LEVEL=debug\n');
      expect(() => loadEnvFile(file)).to.throw(EnvFileError, `invalid environment file ${file}: line 3: "export LOG_LEVEL" is not a valid variable name`);
    });

    it('refuses a missing file and a file that is not UTF-8', () => {
      const missing = path.join(dir, 'missing.env');
      expect(() => loadEnvFile(missing)).to.throw(EnvFileError, `invalid environment file ${missing}: cannot read it (ENOENT)`);
      const latin1 = write('latin1.env', Buffer.concat([Buffer.from('A=1\nPING_MESSAGE=caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
      expect(readEnvFile(latin1).problems).to.deep.equal([{ line: 2, message: 'not valid UTF-8' }]);
      expect(() => loadEnvFile(latin1)).to.throw(EnvFileError, 'line 2: not valid UTF-8');
    });
  });
});
