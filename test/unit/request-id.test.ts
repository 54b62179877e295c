import { expect } from 'chai';
import { requestIdFor } from '../../src/app/request-id.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  it('keeps a well-formed incoming id: up to 128 characters of letters, digits and ._:+/=@-', () => {
    for (const id of ['a', 'x'.repeat(128), '3f2b9c1e-7a4d-4c1b-9e2f-0123456789ab', 'Root=1-67891233-abcdef012345678912345678', 'lb.7f3a:42', 'dGVzdA+/==', 'svc@host_1']) {
      expect(requestIdFor(id), id).to.equal(id);
    }
  });

  it('replaces a missing, empty, too long or oddly charactered id with a new UUID', () => {
    const replaced = [undefined, '', 'x'.repeat(129), 'two words', 'a\tb', '<script>', 'ünïcode', 'a;b', 'a,b', '"quoted"'].map((id) => requestIdFor(id));
    for (const id of replaced) expect(id).to.match(UUID);
    expect(new Set(replaced).size).to.equal(replaced.length);
  });
});
