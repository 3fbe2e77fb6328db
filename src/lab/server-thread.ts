/**
 * The lab server on a thread of its own (a worker): `bench` loads it from the same process, and the
 * load generator must not share an event loop with the server it measures (each would slow the
 * other, and the figures would be the sum of both). The worker half of this file runs when loaded as
 * a worker; `startLabServerThread` is the caller's half.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { once } from 'node:events';
import { KeepaliveLabError } from '../errors.js';
import { startLabServer } from './server.js';
import type { LabServerOptions } from './server.js';

export interface LabServerThread {
  url: string;
  port: number;
  close(): Promise<void>;
}

interface Started {
  url: string;
  port: number;
}

export async function startLabServerThread(options: LabServerOptions = {}): Promise<LabServerThread> {
  const worker = new Worker(new URL(import.meta.url), { workerData: options });
  const exited = once(worker, 'exit');
  try {
    const [message] = (await Promise.race([
      once(worker, 'message'),
      exited.then(() => {
        throw new KeepaliveLabError('KAL_ERR_LISTEN', 'the lab server thread ended before it listened');
      }),
    ])) as [Started];
    return {
      url: message.url,
      port: message.port,
      async close() {
        worker.postMessage('close');
        await exited;
      },
    };
  } catch (error) {
    await worker.terminate();
    throw error;
  }
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const server = await startLabServer(workerData as LabServerOptions);
  port.on('message', () => {
    void server.close().then(() => port.close());
  });
  port.postMessage({ url: server.url, port: server.port } satisfies Started);
}
