import crypto from 'node:crypto';
import bcrypt from 'bcryptjs';

const BCRYPT_COST = 10;

export function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, BCRYPT_COST);
}

let dummyHash: Promise<string> | undefined;

/**
 * Compares against the stored hash, or against a throwaway hash of the same cost when
 * the user does not exist, so both failures take the same time.
 */
export async function verifyPassword(password: string, storedHash: string | undefined): Promise<boolean> {
  dummyHash ??= bcrypt.hash(crypto.randomBytes(16).toString('hex'), BCRYPT_COST);
  const matches = await bcrypt.compare(password, storedHash ?? (await dummyHash));
  return matches && storedHash !== undefined;
}
