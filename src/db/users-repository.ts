import type { Database } from './database.js';
import { violates } from './constraint-errors.js';

export interface UserCredentials {
  id: number;
  passwordHash: string;
}

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
      if (violates(error, 'unique')) throw new EmailTakenError();
      throw error;
    }
  }

  async findCredentials(email: string): Promise<UserCredentials | undefined> {
    const row = await this.db('users')
      .where({ email })
      .first<{ id: number; password_hash: string } | undefined>('id', 'password_hash');
    return row && { id: row.id, passwordHash: row.password_hash };
  }

  async exists(id: number): Promise<boolean> {
    return (await this.db('users').where({ id }).first('id')) !== undefined;
  }
}
