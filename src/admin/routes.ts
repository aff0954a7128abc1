/**
 * The admin listener's routes: each translates one HTTP request into one call of the
 * runtime API (src/runtime/api.ts) and its result into an answer. Request bodies are
 * checked for shape only (a JSON object with the fields the operation takes, of the
 * right types); what the values mean (a weight's range, a name already taken) is the
 * runtime API's to judge.
 */
import { ADMIN_STATES, type AdminState, type ApiResult, type RuntimeApi, type ServerOperation } from '../runtime/api.js';
import { HttpError } from './http.js';

/** What a route answers: JSON like ApiResult, or a text body (the dashboard, the metrics). */
export type Answer = ApiResult | { text: string; contentType: string; status?: number };

export interface RouteContext {
  api: RuntimeApi;
  /** Path parameters, decoded (`:pool`, `:server`). */
  params: Record<string, string>;
  /** The request body as JSON (undefined when empty). */
  body(): Promise<unknown>;
  /** The request's Accept header. */
  accept: string;
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

interface Route {
  path: string;
  methods: Partial<Record<Method, (ctx: RouteContext) => Promise<Answer>>>;
}

/** Methods that change state: they need the token, a JSON body type and the listener's own Origin. */
export const CHANGES_STATE: ReadonlySet<string> = new Set(['PUT', 'POST', 'DELETE']);

const SERVER = '/api/pools/:pool/servers/:server';

function found(message: string, data: unknown): ApiResult {
  return { ok: true, status: 200, message, data };
}

function poolOf(api: RuntimeApi, name: string) {
  const pool = api.status().pools.find((p) => p.name === name);
  if (pool === undefined) throw new HttpError(404, `no pool named ${JSON.stringify(name)}`);
  return pool;
}

function serverOf(api: RuntimeApi, pool: string, name: string) {
  const server = poolOf(api, pool).servers.find((s) => s.name === name);
  if (server === undefined) throw new HttpError(404, `pool ${pool} has no server named ${JSON.stringify(name)}`);
  return server;
}

type FieldType = 'string' | 'number';

/**
 * The body as an object with exactly these fields (those ending in `?` optional), each of
 * its type; a 400 saying what to send otherwise.
 */
function fields<T>(body: unknown, spec: Record<string, FieldType>, example: string): T {
  const hint = `; send e.g. ${example}`;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, `expected a JSON object${hint}`);
  const out: Record<string, unknown> = {};
  const known = new Map(Object.entries(spec).map(([k, t]) => [k.replace(/\?$/, ''), { type: t, optional: k.endsWith('?') }]));
  for (const key of Object.keys(body)) {
    if (!known.has(key)) throw new HttpError(400, `unknown field ${JSON.stringify(key)} (expected ${[...known.keys()].join(', ')})${hint}`);
  }
  for (const [key, { type, optional }] of known) {
    const v = (body as Record<string, unknown>)[key];
    if (v === undefined && optional) continue;
    if (v === undefined) throw new HttpError(400, `missing field ${JSON.stringify(key)}${hint}`);
    if (typeof v !== type || (type === 'number' && !Number.isFinite(v))) throw new HttpError(400, `field ${JSON.stringify(key)} must be a ${type}, got ${JSON.stringify(v)}${hint}`);
    out[key] = v;
  }
  return out as T;
}

/** A body that must be empty or `{}` (check, remove). */
async function noFields(ctx: RouteContext): Promise<void> {
  const body = await ctx.body();
  if (body !== undefined) fields(body, {}, '{} or nothing');
}

const operate = (ctx: RouteContext, op: ServerOperation): Promise<ApiResult> => ctx.api.operate(op);

export const ROUTES: Route[] = [
  {
    path: '/api/status',
    methods: { GET: async ({ api }) => found('status', api.status()) },
  },
  {
    path: '/api/pools',
    methods: {
      GET: async ({ api }) => {
        const pools = api.status().pools;
        return found(`${pools.length} pool(s)`, pools);
      },
    },
  },
  {
    path: '/api/pools/:pool',
    methods: { GET: async ({ api, params }) => found(`pool ${params.pool}`, poolOf(api, params.pool!)) },
  },
  {
    path: '/api/pools/:pool/servers',
    methods: {
      GET: async ({ api, params }) => found(`servers of pool ${params.pool}`, poolOf(api, params.pool!).servers),
      POST: async (ctx) => {
        const spec = fields<{ name: string; host: string; port: number; weight?: number }>(
          await ctx.body(),
          { name: 'string', host: 'string', port: 'number', 'weight?': 'number' },
          '{"name":"s3","host":"127.0.0.1","port":9003,"weight":1}',
        );
        return operate(ctx, { op: 'add', pool: ctx.params.pool!, spec });
      },
    },
  },
  {
    path: SERVER,
    methods: {
      GET: async ({ api, params }) => found(`server ${params.server} of pool ${params.pool}`, serverOf(api, params.pool!, params.server!)),
      DELETE: async (ctx) => {
        await noFields(ctx);
        return operate(ctx, { op: 'remove', pool: ctx.params.pool!, server: ctx.params.server! });
      },
    },
  },
  {
    path: `${SERVER}/state`,
    methods: {
      PUT: async (ctx) => {
        const { state } = fields<{ state: string }>(await ctx.body(), { state: 'string' }, '{"state":"drain"}');
        if (!(ADMIN_STATES as readonly string[]).includes(state)) {
          throw new HttpError(400, `state ${JSON.stringify(state)} is not one of ${ADMIN_STATES.join(', ')}`);
        }
        return operate(ctx, { op: 'state', pool: ctx.params.pool!, server: ctx.params.server!, state: state as AdminState });
      },
    },
  },
  {
    path: `${SERVER}/weight`,
    methods: {
      PUT: async (ctx) => {
        const { weight } = fields<{ weight: number }>(await ctx.body(), { weight: 'number' }, '{"weight":5}');
        return operate(ctx, { op: 'weight', pool: ctx.params.pool!, server: ctx.params.server!, weight });
      },
    },
  },
  {
    path: `${SERVER}/check`,
    methods: {
      POST: async (ctx) => {
        await noFields(ctx);
        return operate(ctx, { op: 'check', pool: ctx.params.pool!, server: ctx.params.server! });
      },
    },
  },
];

/** The route for `path` and its parameters, or null. A badly encoded segment is a 400. */
export function matchRoute(routes: readonly Route[], path: string): { route: Route; params: Record<string, string> } | null {
  const segments = path.split('/');
  for (const route of routes) {
    const pattern = route.path.split('/');
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const p = pattern[i]!;
      const s = segments[i]!;
      if (p.startsWith(':')) {
        if (s === '') ok = false;
        else params[p.slice(1)] = decodeSegment(s);
      } else ok = p === s;
    }
    if (ok) return { route, params };
  }
  return null;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, `badly encoded path segment ${JSON.stringify(s)}`);
  }
}

/** The `Allow` header of a route: its methods, and HEAD with GET. */
export function allowOf(route: Route): string {
  const methods = Object.keys(route.methods);
  if (methods.includes('GET')) methods.splice(methods.indexOf('GET') + 1, 0, 'HEAD');
  return methods.join(', ');
}

export type { Route, Method };
