import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { TokenVerifier, tokenIssuer } from '../../src/app/tokens.js';

const SECRET = 'unit-test-secret-long-enough';
const T0 = Date.UTC(2026, 0, 1);

/** Users 1-99 exist; every lookup is counted (the database's part is tested in test/integration). */
function userDirectory() {
  const directory = {
    lookups: [] as number[],
    failing: false,
    exists: async (userId: number) => {
      directory.lookups.push(userId);
      if (directory.failing) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      return userId < 100;
    },
  };
  return directory;
}

/** A verifier whose clock the test moves. */
function verifierAt(start: number, capacity?: number) {
  const clock = { now: start };
  const users = userDirectory();
  return { clock, users, verifier: new TokenVerifier(SECRET, users.exists, capacity, () => clock.now) };
}

const signed = (claims: object, secret = SECRET) => jwt.sign(claims, secret, { algorithm: 'HS256', noTimestamp: true });

describe('TokenVerifier', () => {
  it('accepts the tokens tokenIssuer makes, with the user id', async () => {
    const token = tokenIssuer(SECRET)(42);
    expect(await new TokenVerifier(SECRET, userDirectory().exists).userIdOf(token)).to.equal(42);
  });

  it('refuses a remembered token from the second of its exp on, as jsonwebtoken does', async () => {
    const exp = Math.floor(T0 / 1000) + 60;
    const token = signed({ user_id: 7, exp });
    const { clock, verifier } = verifierAt(T0);
    expect(await verifier.userIdOf(token)).to.equal(7);
    expect(verifier.size).to.equal(1);
    clock.now = exp * 1000 - 1;
    expect(await verifier.userIdOf(token)).to.equal(7);
    clock.now = exp * 1000;
    expect(await verifier.userIdOf(token)).to.equal(undefined);
    expect(verifier.size).to.equal(0);
    // Not remembered again: the signature check now says expired too.
    expect(await verifier.userIdOf(token)).to.equal(undefined);
  });

  it('never remembers a token that failed: forged, expired, without exp, other algorithm, odd claims or an unknown user', async () => {
    const { verifier } = verifierAt(T0);
    const exp = Math.floor(T0 / 1000) + 60;
    const bad = [
      signed({ user_id: 7, exp }, 'another-secret-entirely'),
      signed({ user_id: 7, exp: Math.floor(T0 / 1000) - 1 }),
      jwt.sign({ user_id: 7, exp }, SECRET, { algorithm: 'HS512', noTimestamp: true }),
      signed({ user_id: '7', exp }),
      signed({ user_id: 0, exp }),
      signed({ user_id: 1.5, exp }),
      signed({ user_id: 7 }),
      signed({ user_id: 100, exp }),
      'not.a.token',
    ];
    for (const token of bad) expect(await verifier.userIdOf(token), token).to.equal(undefined);
    expect(verifier.size).to.equal(0);
  });

  it('keeps at most `capacity` tokens, dropping the oldest, and still verifies a dropped one', async () => {
    const exp = Math.floor(T0 / 1000) + 3600;
    const { users, verifier } = verifierAt(T0, 3);
    const tokens = [1, 2, 3, 4].map((userId) => signed({ user_id: userId, exp }));
    for (const token of tokens) await verifier.userIdOf(token);
    expect(verifier.size).to.equal(3);
    const remembered = () => tokens.map((token) => verifier.rememberedUserId(token));
    expect(remembered(), 'the first token out, the newest three kept').to.deep.equal([undefined, 2, 3, 4]);

    // The dropped token is verified again (its user looked up again) and comes back in,
    // pushing out what is now the oldest.
    expect(await verifier.userIdOf(tokens[0]!)).to.equal(1);
    expect(users.lookups).to.deep.equal([1, 2, 3, 4, 1]);
    expect(verifier.size).to.equal(3);
    expect(remembered()).to.deep.equal([1, undefined, 3, 4]);
  });

  it('refuses a token without exp (jsonwebtoken alone would accept it forever)', async () => {
    const { users, verifier } = verifierAt(T0);
    expect(await verifier.userIdOf(signed({ user_id: 9 }))).to.equal(undefined);
    expect(users.lookups).to.deep.equal([]);
  });

  it('looks the user up once per token, also for concurrent first requests', async () => {
    const { users, verifier } = verifierAt(T0);
    const token = signed({ user_id: 5, exp: Math.floor(T0 / 1000) + 60 });
    expect(verifier.rememberedUserId(token)).to.equal(undefined);
    expect(await Promise.all([1, 2, 3].map(() => verifier.userIdOf(token)))).to.deep.equal([5, 5, 5]);
    for (let i = 0; i < 5; i += 1) expect(await verifier.userIdOf(token)).to.equal(5);
    expect(verifier.rememberedUserId(token)).to.equal(5);
    expect(users.lookups).to.deep.equal([5]);
  });

  it('looks an unknown user up again on every use (nothing remembered)', async () => {
    const { users, verifier } = verifierAt(T0);
    const token = signed({ user_id: 500, exp: Math.floor(T0 / 1000) + 60 });
    expect(await verifier.userIdOf(token)).to.equal(undefined);
    expect(await verifier.userIdOf(token)).to.equal(undefined);
    expect(users.lookups).to.deep.equal([500, 500]);
  });

  it('rejects when the lookup fails, remembers nothing, and looks up again next time', async () => {
    const { users, verifier } = verifierAt(T0);
    const token = signed({ user_id: 6, exp: Math.floor(T0 / 1000) + 60 });
    users.failing = true;
    let failure: unknown;
    await verifier.userIdOf(token).catch((error: unknown) => (failure = error));
    expect((failure as Error).message).to.match(/ECONNREFUSED/);
    expect(verifier.size).to.equal(0);
    users.failing = false;
    expect(await verifier.userIdOf(token)).to.equal(6);
    expect(users.lookups).to.deep.equal([6, 6]);
  });
});
