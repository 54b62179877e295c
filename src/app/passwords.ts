import bcrypt from 'bcryptjs';

const BCRYPT_COST = 10;

/**
 * A cost-10 hash of a random string nobody kept. Comparing against it when the email is
 * unknown makes that failure take as long as a wrong password; it can never log anyone in.
 */
const UNKNOWN_USER_HASH = '$2b$10$uxlJQDZ1agfb6Zv2/2pHWeGNJFZfFI5UqvNgYvPzxxg5pp4tvF2Gi';

export function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, BCRYPT_COST);
}

/** Compares against the stored hash, or (same cost) against UNKNOWN_USER_HASH without one. */
export async function verifyPassword(password: string, storedHash: string | undefined): Promise<boolean> {
  const matches = await bcrypt.compare(password, storedHash ?? UNKNOWN_USER_HASH);
  return matches && storedHash !== undefined;
}
