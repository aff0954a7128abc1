import { Worker } from 'node:worker_threads';
import type { LoadResult } from './load.js';

/** What to load: a file, YAML text, or a plain object shaped like the YAML (built by a command). */
export type LoadRequest = { file: string } | { text: string; name: string } | { raw: unknown; name: string };

/**
 * loadConfigFile / loadConfigText, run in a short-lived worker thread. The YAML parser
 * and the schema library cost about 20 MB of resident memory once loaded; loading them
 * in a separate isolate that ends afterwards keeps that out of the running balancer,
 * which matters for the many-idle-connections memory budget. Costs ~50 ms per load.
 */
export async function loadConfigIsolated(req: LoadRequest): Promise<LoadResult> {
  const worker = new Worker(new URL('./load-worker.js', import.meta.url), { workerData: req });
  try {
    return await new Promise<LoadResult>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`configuration loader exited with code ${code}`)));
    });
  } finally {
    await worker.terminate();
  }
}
