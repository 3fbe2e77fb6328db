/**
 * A TLS key log for a command `watch` runs: the programs it starts write their TLS secrets there
 * (`SSLKEYLOGFILE`: curl, Firefox, Chrome, Python's ssl, anything on OpenSSL 3.5+ or NSS; Node reads
 * `--tls-keylog` from NODE_OPTIONS), and the analysis reads it as it grows (KeyLogFile).
 *
 * The keys are secrets: anyone holding them reads the traffic. A private key log lives in a directory
 * of its own made by mkdtemp (mode 0700), in a file made with mode 0600, and is removed with its
 * directory by `remove()`, which the caller runs in a `finally` (every way out: the command's exit,
 * an error, Ctrl-C). A key log the user names is theirs: created (0600) when missing, never removed.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyLogError } from '../errors.js';
import { KeyLogFile } from './keylog-file.js';
import { nodeOption, withNodeOptions } from './node-options.js';

export interface CommandKeyLog {
  /** The key log, read as the command's programs write it. */
  readonly file: KeyLogFile;
  /** Made for this command (and removed by `remove()`), or the user's. */
  readonly private: boolean;
  /** The command's environment: `base` with SSLKEYLOGFILE and NODE_OPTIONS' --tls-keylog set to the key log. */
  env(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** Removes a private key log and its directory (nothing for the user's); never throws. */
  remove(): Promise<void>;
}

/** Mode of the private directory (mkdtemp's) and of a key log file made here: the owner's only. */
const FILE_MODE = 0o600;

/**
 * A key log for a command: the user's file at `path` (created when missing), or without `path` a
 * private one in a new temporary directory. Throws KeyLogError (KAL_ERR_KEYLOG) when it cannot be made.
 */
export async function commandKeyLog(path?: string): Promise<CommandKeyLog> {
  if (path !== undefined) {
    await touch(path);
    return keyLog(new KeyLogFile(path), false, async () => {});
  }
  const dir = await mkdtemp(join(tmpdir(), 'kal-keylog-'));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true }).catch(() => {});
  try {
    const file = join(dir, 'sslkeylog.txt');
    await touch(file, 'wx');
    return keyLog(new KeyLogFile(file), true, remove);
  } catch (error) {
    await remove();
    throw error;
  }
}

function keyLog(file: KeyLogFile, isPrivate: boolean, remove: () => Promise<void>): CommandKeyLog {
  return {
    file,
    private: isPrivate,
    env: (base) => keyLogEnv(file.path, base),
    remove,
  };
}

/** Creates the file (mode 0600) unless it exists (`flag` 'wx': it must not). */
async function touch(path: string, flag: 'a' | 'wx' = 'a'): Promise<void> {
  try {
    const handle = await open(path, flag, FILE_MODE);
    await handle.close();
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new KeyLogError(path, e.code === 'ENOENT' ? 'its directory does not exist' : (e.message ?? String(error)), {
      cause: error,
    });
  }
}

/**
 * `base` with SSLKEYLOGFILE set to `path`, and `--tls-keylog=path` added to NODE_OPTIONS (Node does not
 * read SSLKEYLOGFILE; NODE_OPTIONS takes a value in double quotes when it has spaces).
 */
export function keyLogEnv(path: string, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return withNodeOptions({ ...base, SSLKEYLOGFILE: path }, nodeOption('tls-keylog', path));
}
