/**
 * Worker-thread entry of loadConfigIsolated: loads one configuration and posts the
 * LoadResult back. Runs in its own V8 isolate so that the parser and schema libraries
 * never occupy the balancer's own heap.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { stringify } from 'yaml';
import { loadConfigFile, loadConfigText, type LoadResult } from './load.js';
import type { LoadRequest } from './load-isolated.js';
import { machineSubnets } from './vrrp/checks.js';

const req = workerData as LoadRequest;
let result: Promise<LoadResult> | LoadResult;
// `fulcrum run` checks the file against this machine (a VRRP address in its interface's subnet).
if ('file' in req) result = loadConfigFile(req.file, { interfaces: machineSubnets });
else if ('text' in req) result = loadConfigText(req.text, req.name);
else result = loadConfigText(stringify(req.raw), req.name);
parentPort!.postMessage(await result);
