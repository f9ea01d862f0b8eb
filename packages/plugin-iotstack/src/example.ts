import {randomBytes} from 'node:crypto'
import {once} from 'node:events'
import {createWriteStream} from 'node:fs'
import {chmod, chown, lchown, mkdir, symlink, writeFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'

/**
 * A small IOTstack folder for demos, docs and benchmarks, made natively (no Docker, no IOTstack clone): compose file
 * with mosquitto, nodered, mariadb and grafana from IOTstack's templates, `.env` (0600, example-only secrets),
 * services/, volumes/ with the container users' owners when run as root (1883 mosquitto, 1000 nodered, 472 grafana),
 * a 0700 dump folder, a relative symlink and the hook scripts. `volumeBytes` adds that much volume data: half
 * incompressible (database pages), half log-like text.
 */
export interface ExampleStackOptions {
  /** Extra bytes of volume data (default 256 KiB). */
  volumeBytes?: number
}

export interface ExampleStack {
  dir: string
  files: number
  bytes: number
}

const COMPOSE = `services:
  mosquitto:
    container_name: mosquitto
    build:
      context: ./.templates/mosquitto/.
    restart: unless-stopped
    environment:
      - TZ=\${TZ:-Etc/UTC}
    ports:
      - "1883:1883"
    volumes:
      - ./volumes/mosquitto/config:/mosquitto/config
      - ./volumes/mosquitto/data:/mosquitto/data
      - ./volumes/mosquitto/log:/mosquitto/log
  nodered:
    container_name: nodered
    build:
      context: ./services/nodered/.
    restart: unless-stopped
    environment:
      - TZ=\${TZ:-Etc/UTC}
    ports:
      - "1880:1880"
    volumes:
      - ./volumes/nodered/data:/data
  mariadb:
    build: ./.templates/mariadb/.
    container_name: mariadb
    environment:
      - TZ=\${TZ:-Etc/UTC}
      - MYSQL_ROOT_PASSWORD=\${MARIADB_ROOT_PASSWORD:?eg echo MARIADB_ROOT_PASSWORD=secret >>~/IOTstack/.env}
      - MYSQL_DATABASE=\${MARIADB_DATABASE:-default}
      - MYSQL_USER=\${MARIADB_USER:-mariadbuser}
      - MYSQL_PASSWORD=\${MARIADB_USER_PASSWORD:?eg echo MARIADB_USER_PASSWORD=secret >>~/IOTstack/.env}
    volumes:
      - ./volumes/mariadb/config:/config
      - ./volumes/mariadb/db_backup:/backup
    restart: unless-stopped
  grafana:
    container_name: grafana
    image: grafana/grafana
    restart: unless-stopped
    environment:
      - TZ=\${TZ:-Etc/UTC}
    volumes:
      - ./volumes/grafana/data:/var/lib/grafana
`

export async function makeExampleStack(dir: string, options: ExampleStackOptions = {}): Promise<ExampleStack> {
  const root = process.geteuid?.() === 0
  let files = 0
  let bytes = 0
  const file = async (rel: string, content: string, mode = 0o644, owner?: number) => {
    const path = join(dir, rel)
    await mkdir(dirname(path), {recursive: true})
    await writeFile(path, content, {mode})
    await chmod(path, mode)
    if (root && owner !== undefined) await chown(path, owner, owner)
    files++
    bytes += Buffer.byteLength(content)
  }
  await mkdir(dir, {recursive: true})
  await file('docker-compose.yml', COMPOSE)
  await file(
    '.env',
    'TZ=Etc/UTC\nMARIADB_ROOT_PASSWORD=example-root-pw\nMARIADB_USER_PASSWORD=example-user-pw\n',
    0o600,
  )
  await file('services/nodered/Dockerfile', 'FROM nodered/node-red:latest\n')
  await file('services/mosquitto/mosquitto.conf', 'listener 1883\n')
  await file('volumes/mosquitto/config/mosquitto.conf', 'listener 1883\n', 0o644, 1883)
  await file('volumes/mosquitto/log/mosquitto.log', 'started\n', 0o644, 1883)
  await file('volumes/nodered/data/flows.json', '[{"id":"f1","type":"tab","label":"Flow 1"}]\n', 0o644, 1000)
  await file('volumes/mariadb/config/custom.cnf', '[mysqld]\nmax_connections=50\n')
  await mkdir(join(dir, 'volumes/mariadb/db_backup'), {recursive: true, mode: 0o700})
  await chmod(join(dir, 'volumes/mariadb/db_backup'), 0o700)
  await mkdir(join(dir, 'volumes/grafana/data'), {recursive: true})
  await mkdir(join(dir, 'volumes/mosquitto/data'), {recursive: true})
  await symlink('../../nodered/data/flows.json', join(dir, 'volumes/mosquitto/data/flows-link.json'))
  await file('pre_backup.sh', 'echo "pre_backup hook ran"\n')
  await file('post_backup.sh', 'echo "post_backup hook ran"\n')
  await file('post_restore.sh', 'echo "post_restore hook ran"\n')

  const total = options.volumeBytes ?? 256 * 1024
  const binary = Math.floor(total / 2)
  const shard = 64 * 1024 * 1024
  for (let done = 0, n = 1; done < binary; n++) {
    const size = Math.min(shard, binary - done)
    await stream(join(dir, `volumes/grafana/data/shard-${String(n).padStart(4, '0')}.db`), size, () =>
      randomBytes(1024 * 1024),
    )
    done += size
    files++
  }
  let line = 0
  const text = () => {
    const lines: string[] = []
    for (let i = 0; i < 8192; i++, line++) {
      lines.push(`${1700000000 + line} sensor/${line % 37}/temperature ${(20 + Math.sin(line / 50) * 5).toFixed(3)}`)
    }
    return Buffer.from(`${lines.join('\n')}\n`)
  }
  const logs = total - binary
  for (let done = 0, n = 1; done < logs; n++) {
    const size = Math.min(shard, logs - done)
    await stream(join(dir, `volumes/mosquitto/log/mosquitto.${n}.log`), size, text)
    done += size
    files++
  }
  bytes += total
  if (root) {
    for (const [rel, id] of [
      ['volumes/mosquitto', 1883],
      ['volumes/mosquitto/config', 1883],
      ['volumes/mosquitto/data', 1883],
      ['volumes/mosquitto/log', 1883],
      ['volumes/nodered', 1000],
      ['volumes/nodered/data', 1000],
      ['volumes/grafana', 472],
      ['volumes/grafana/data', 472],
    ] as const) {
      await chown(join(dir, rel), id, id)
    }
    await lchown(join(dir, 'volumes/mosquitto/data/flows-link.json'), 1883, 1883)
  }
  return {dir, files, bytes}
}

/** Writes `size` bytes made by `chunk()` to `path`, streaming. */
async function stream(path: string, size: number, chunk: () => Buffer): Promise<void> {
  await mkdir(dirname(path), {recursive: true})
  const out = createWriteStream(path)
  let left = size
  while (left > 0) {
    const data = chunk()
    const piece = data.length > left ? data.subarray(0, left) : data
    left -= piece.length
    if (!out.write(piece)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}
