import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { TokenVerifier, tokenIssuer } from '../../src/app/tokens.js';

const SECRET = 'unit-test-secret-long-enough';
const T0 = Date.UTC(2026, 0, 1);

/** A verifier whose clock the test moves. */
function verifierAt(start: number, capacity?: number) {
  const clock = { now: start };
  return { clock, verifier: new TokenVerifier(SECRET, capacity, () => clock.now) };
}

const signed = (claims: object, secret = SECRET) => jwt.sign(claims, secret, { algorithm: 'HS256', noTimestamp: true });

describe('TokenVerifier', () => {
  it('accepts the tokens tokenIssuer makes, with the user id', () => {
    const token = tokenIssuer(SECRET)(42);
    expect(new TokenVerifier(SECRET).userIdOf(token)).to.equal(42);
  });

  it('refuses a remembered token from the second of its exp on, as jsonwebtoken does', () => {
    const exp = Math.floor(T0 / 1000) + 60;
    const token = signed({ user_id: 7, exp });
    const { clock, verifier } = verifierAt(T0);
    expect(verifier.userIdOf(token)).to.equal(7);
    expect(verifier.size).to.equal(1);
    clock.now = exp * 1000 - 1;
    expect(verifier.userIdOf(token)).to.equal(7);
    clock.now = exp * 1000;
    expect(verifier.userIdOf(token)).to.equal(undefined);
    expect(verifier.size).to.equal(0);
    // Not remembered again: the signature check now says expired too.
    expect(verifier.userIdOf(token)).to.equal(undefined);
  });

  it('never remembers a token that failed: forged, expired, other algorithm or odd claims', () => {
    const { verifier } = verifierAt(T0);
    const exp = Math.floor(T0 / 1000) + 60;
    const bad = [
      signed({ user_id: 7, exp }, 'another-secret-entirely'),
      signed({ user_id: 7, exp: Math.floor(T0 / 1000) - 1 }),
      jwt.sign({ user_id: 7, exp }, SECRET, { algorithm: 'HS512', noTimestamp: true }),
      signed({ user_id: '7', exp }),
      signed({ user_id: 0, exp }),
      signed({ user_id: 1.5, exp }),
      'not.a.token',
    ];
    for (const token of bad) expect(verifier.userIdOf(token), token).to.equal(undefined);
    expect(verifier.size).to.equal(0);
  });

  it('keeps at most `capacity` tokens, dropping the oldest, and still verifies a dropped one', () => {
    const exp = Math.floor(T0 / 1000) + 3600;
    const { verifier } = verifierAt(T0, 3);
    const tokens = [1, 2, 3, 4].map((userId) => signed({ user_id: userId, exp }));
    for (const token of tokens) verifier.userIdOf(token);
    expect(verifier.size).to.equal(3);
    expect(verifier.userIdOf(tokens[0]!)).to.equal(1);
    expect(verifier.size).to.equal(3);
  });

  it('keeps a token without exp valid, as jsonwebtoken does', () => {
    const { clock, verifier } = verifierAt(T0);
    const token = signed({ user_id: 9 });
    expect(verifier.userIdOf(token)).to.equal(9);
    clock.now = T0 + 365 * 86_400_000;
    expect(verifier.userIdOf(token)).to.equal(9);
  });
});
