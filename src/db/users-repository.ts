import type { Database } from './database.js';

export interface UserCredentials {
  id: number;
  passwordHash: string;
}

/** Postgres `unique_violation`. */
const UNIQUE_VIOLATION = '23505';

export class EmailTakenError extends Error {
  constructor() {
    super('email already registered');
    this.name = 'EmailTakenError';
  }
}

export class UsersRepository {
  constructor(private readonly db: Database) {}

  /**
   * Inserts the user; the unique index on email decides races between concurrent
   * registrations of the same address (no check-then-insert).
   */
  async create(email: string, passwordHash: string): Promise<number> {
    try {
      const [row] = await this.db('users').insert({ email, password_hash: passwordHash }).returning<{ id: number }[]>('id');
      return row!.id;
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw new EmailTakenError();
      throw error;
    }
  }

  async findCredentials(email: string): Promise<UserCredentials | undefined> {
    const row = await this.db('users')
      .where({ email })
      .first<{ id: number; password_hash: string } | undefined>('id', 'password_hash');
    return row && { id: row.id, passwordHash: row.password_hash };
  }
}
