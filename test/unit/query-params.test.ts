import { expect } from 'chai';
import type { Context } from 'koa';
import { queryParams } from '../../src/app/query-params.js';

const paramsOf = (querystring: string) => ({ ...queryParams({ querystring } as Context) });

describe('queryParams', () => {
  it('decodes percent-escapes and + like URLSearchParams, and keeps repeated parameters in order', () => {
    expect(paramsOf('category=health+care&q=%E2%9C%93%20ok&page=2&page=3&empty=&flag')).to.deep.equal({
      category: 'health care',
      q: '✓ ok',
      page: ['2', '3'],
      empty: '',
      flag: '',
    });
  });

  it('answers an empty object for no query, and keeps a malformed escape as text', () => {
    expect(paramsOf('')).to.deep.equal({});
    expect(paramsOf('category=%ZZ')).to.deep.equal({ category: '%ZZ' });
  });

  it('cannot be steered into the prototype', () => {
    const params = queryParams({ querystring: '__proto__=x&constructor=y' } as Context);
    expect(Object.getPrototypeOf(params)).to.equal(null);
    expect(params['__proto__']).to.equal('x');
  });
});
