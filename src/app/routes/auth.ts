import type Router from '@koa/router';
import { EmailTakenError, type UsersRepository } from '../../db/users-repository.js';
import createError from 'http-errors';
import { readJsonBody } from '../json-body.js';
import { hashPassword, verifyPassword } from '../passwords.js';
import { tokenIssuer } from '../tokens.js';
import { loginSchema, registerSchema, validate } from '../validation.js';

export function authRoutes(router: Router, users: UsersRepository, jwtSecret: string): void {
  const issueToken = tokenIssuer(jwtSecret);
  router.post('/register', async (ctx) => {
    const { email, password } = validate(registerSchema, await readJsonBody(ctx));
    let userId: number;
    try {
      userId = await users.create(email, await hashPassword(password));
    } catch (error) {
      if (error instanceof EmailTakenError) throw createError(409, 'Email already registered');
      throw error;
    }
    ctx.status = 201;
    ctx.body = { success: true, message: 'User registered successfully', user_id: userId };
  });

  router.post('/login', async (ctx) => {
    const { email, password } = validate(loginSchema, await readJsonBody(ctx));
    const credentials = await users.findCredentials(email);
    if (!(await verifyPassword(password, credentials?.passwordHash))) {
      throw createError(401, 'Invalid email or password');
    }
    ctx.body = { success: true, message: 'Login successful', token: issueToken(credentials!.id) };
  });
}
