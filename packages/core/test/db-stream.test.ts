import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {gunzipSync} from 'node:zlib'
import {createTestDatabase, dropTestLeftovers, extractFixture, requireServer, tempDir} from '@bkcli/testkit'
import {afterAll, describe, expect, it} from 'vitest'
import {
  type CreateStatements,
  createStatementsFilter,
  dbClient,
  dumpDatabase,
  parseDbUrl,
  stripDefinerFilter,
} from '../src/db/index.js'
import {pgConnectionArgs} from '../src/db/tools.js'

afterAll(dropTestLeftovers)

/** Run text through a transform in chunks of the given sizes (cycled), as a pipe would deliver it. */
async function through(transform: NodeJS.ReadWriteStream, input: Buffer, sizes: number[]): Promise<string> {
  const chunks: Buffer[] = []
  for (let at = 0, i = 0; at < input.length; i++) {
    const size = sizes[i % sizes.length]!
    chunks.push(input.subarray(at, at + size))
    at += size
  }
  const out: Buffer[] = []
  for await (const chunk of Readable.from(chunks).pipe(transform)) out.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(out).toString('utf8')
}

const SPLITS = [[1], [7, 3, 1], [64], [4096], [1 << 20]]
const fixtureDump = () => {
  const dir = extractFixture('trac', 'postgres-hotcopy')
  return gunzipSync(readFileSync(join(dir, 'postgres-hotcopy', 'db', 'postgres-db-backup.sql.gz')))
}

describe('createStatementsFilter (pg_dump -C)', () => {
  const dump = fixtureDump()
  const original = dump.toString('utf8')
  const body = original.slice(original.indexOf('CREATE TABLE'))

  const expectations: Record<CreateStatements, (out: string) => void> = {
    skip(out) {
      expect(out).not.toMatch(/CREATE DATABASE|\\connect|ALTER DATABASE/)
      expect(out).toContain('CREATE SCHEMA IF NOT EXISTS public;')
    },
    rewrite(out) {
      expect(out).toContain(
        "CREATE DATABASE \"new db\" WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc LOCALE = 'C.UTF-8';",
      )
      expect(out).toContain('ALTER DATABASE "new db" OWNER TO root;')
      expect(out).toContain(`\\connect -reuse-previous=on "dbname='new db'"`)
      const header = out.slice(0, out.indexOf('CREATE TABLE'))
      const statements = header.split('\n').filter((line) => !line.startsWith('--'))
      expect(statements.join('\n')).not.toContain('trac_fixture')
    },
    keep(out) {
      expect(out).toBe(original)
    },
  }

  for (const mode of ['skip', 'rewrite', 'keep'] as const) {
    for (const sizes of SPLITS) {
      it(`${mode}, chunks of ${sizes.join('/')}`, async () => {
        const out = await through(createStatementsFilter('postgres', mode, 'new db'), dump, sizes)
        expectations[mode](out)
        // Everything from the first table on passes through byte for byte.
        expect(out.endsWith(body)).toBe(true)
        expect(out.match(/\\restrict /g)?.length).toBe(original.match(/\\restrict /g)?.length)
      })
    }
  }

  it('renames database properties and quotes odd names; plain dumps pass unchanged', async () => {
    const text = [
      'SET x = 1;',
      'CREATE DATABASE "Old ""Name" WITH TEMPLATE = template0;',
      'ALTER DATABASE "Old ""Name" OWNER TO bob;',
      '\\connect -reuse-previous=on "dbname=\'Old \\"Name\'"',
      'ALTER DATABASE "Old ""Name" SET search_path TO app;',
      'COMMENT ON DATABASE "Old ""Name" IS \'x\';',
      'CREATE TABLE t (a int);',
      'ALTER DATABASE "Old ""Name" SET later TO untouched;',
      '',
    ].join('\n')
    const skipped = await through(createStatementsFilter('postgres', 'skip', 'target'), Buffer.from(text), [5])
    expect(skipped).toBe(
      [
        'SET x = 1;',
        'ALTER DATABASE "target" SET search_path TO app;',
        'COMMENT ON DATABASE "target" IS \'x\';',
        'CREATE TABLE t (a int);',
        'ALTER DATABASE "Old ""Name" SET later TO untouched;',
        '',
      ].join('\n'),
    )
    const plain = 'SET a = 1;\nCREATE TABLE t (a int);\nINSERT INTO t VALUES (1);\n'
    expect(await through(createStatementsFilter('postgres', 'skip', 'x'), Buffer.from(plain), [3])).toBe(plain)
  })
})

describe('createStatementsFilter rewrite of a plain dump', () => {
  it('puts CREATE DATABASE and the switch first, before the session settings', async () => {
    const plain = "SET client_encoding = 'UTF8';\nCREATE TABLE t (a int);\n"
    expect(await through(createStatementsFilter('postgres', 'rewrite', 'Neu'), Buffer.from(plain), [3])).toBe(
      `CREATE DATABASE "Neu";\n\\connect -reuse-previous=on "dbname='Neu'"\n${plain}`,
    )
    const my = '/*!40101 SET NAMES utf8mb4 */;\nDROP TABLE IF EXISTS `t`;\n'
    expect(await through(createStatementsFilter('mysql', 'rewrite', 'neu'), Buffer.from(my), [1 << 16])).toBe(
      `CREATE DATABASE \`neu\`;\nUSE \`neu\`;\n${my}`,
    )
    // A dump that is all header still gets it.
    expect(await through(createStatementsFilter('mysql', 'rewrite', 'n'), Buffer.from('SET a=1;'), [2])).toBe(
      'CREATE DATABASE `n`;\nUSE `n`;\nSET a=1;',
    )
  })
})

describe('createStatementsFilter (mysqldump --databases)', () => {
  const text = [
    '/*!40101 SET NAMES utf8mb4 */;',
    '',
    'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `old` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;',
    '',
    'USE `old`;',
    'DROP TABLE IF EXISTS `t`;',
    "INSERT INTO `t` VALUES ('USE `old`;');",
    '',
  ].join('\n')
  it('skips or renames CREATE DATABASE and USE, never data', async () => {
    const skipped = await through(createStatementsFilter('mysql', 'skip', 'new'), Buffer.from(text), [2, 9])
    expect(skipped).not.toMatch(/CREATE DATABASE|^USE/m)
    expect(skipped).toContain("INSERT INTO `t` VALUES ('USE `old`;');")
    const renamed = await through(createStatementsFilter('mysql', 'rewrite', 'n`w'), Buffer.from(text), [4096])
    expect(renamed).toContain(
      'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `n``w` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;',
    )
    expect(renamed).toContain('USE `n``w`;\nDROP TABLE')
  })
})

describe('stripDefinerFilter', () => {
  it('removes DEFINER clauses across chunk boundaries and leaves data alone', async () => {
    const text = [
      '/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */',
      "CREATE DEFINER='app'@'%' PROCEDURE p() SELECT 1;",
      '/*!50003 CREATE*/ /*!50017 DEFINER=`a``b`@`127.0.0.1`*/ /*!50003 TRIGGER x BEFORE INSERT ON t FOR EACH ROW SET @a = 1 */;;',
      "INSERT INTO `t` VALUES ('DEFINER=`root`@`localhost` stays');",
      'no newline at the end DEFINER=x@y',
    ].join('\n')
    for (const sizes of [[1], [13, 2], [1 << 16]]) {
      const out = await through(stripDefinerFilter(), Buffer.from(text), sizes)
      expect(out).toBe(
        [
          '/*!50013 SQL SECURITY DEFINER */',
          'CREATE PROCEDURE p() SELECT 1;',
          '/*!50003 CREATE*/ /*!50017*/ /*!50003 TRIGGER x BEFORE INSERT ON t FOR EACH ROW SET @a = 1 */;;',
          "INSERT INTO `t` VALUES ('DEFINER=`root`@`localhost` stays');",
          'no newline at the end',
        ].join('\n'),
      )
    }
  })
})

describe('PostgreSQL socket directory and port (Trac dropped the port there)', () => {
  it('passes -p with a socket directory', () => {
    expect(pgConnectionArgs(parseDbUrl('postgres://trac@:5433/trac?host=/run/postgresql'))).toEqual([
      '-h',
      '/run/postgresql',
      '-p',
      '5433',
      '-U',
      'trac',
      '-w',
    ])
  })

  it('dumps through the socket directory, and a non-default port there is really used', async () => {
    await requireServer('postgres')
    const db = await createTestDatabase('postgres')
    const client = dbClient(db.target)
    await client.query('CREATE TABLE via_socket (a int)')
    await client.close()
    const dir = tempDir()
    const socketUrl = `postgres://root@/${db.name}?host=/var/run/postgresql`
    await dumpDatabase(parseDbUrl(socketUrl), join(dir, 'ok.sql'))
    expect(readFileSync(join(dir, 'ok.sql'), 'utf8')).toContain('CREATE TABLE public.via_socket')
    // With port 5433 pg_dump must look for .s.PGSQL.5433 (nothing listens there), not fall back to 5432.
    const wrongPort = `postgres://root@:5433/${db.name}?host=/var/run/postgresql`
    await expect(dumpDatabase(parseDbUrl(wrongPort), join(dir, 'no.sql'))).rejects.toThrow(
      /^cannot connect to PostgreSQL at \/var\/run\/postgresql\/\.s\.PGSQL\.5433 \(no socket there\); is the server running\?$/,
    )
    await db.drop()
  })
})
