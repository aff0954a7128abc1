/**
 * The dashboard's metrics arithmetic (dashboard/prom.ts), which runs in the browser:
 * the Prometheus text format parsed (labels with escapes, +Inf, comments, timestamps),
 * and quantiles from histogram buckets as Prometheus' histogram_quantile gives them.
 * The served script is the source of both functions and parses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { promTools } from '../../src/admin/dashboard/prom.js';
import { SCRIPT } from '../../src/admin/dashboard/script.js';

const { parse, histogramQuantile } = promTools();

describe('dashboard metrics arithmetic', () => {
  it('parses the Prometheus text format', () => {
    const text = [
      '# HELP fulcrum_server_requests_total Requests sent to each server.',
      '# TYPE fulcrum_server_requests_total counter',
      'fulcrum_server_requests_total{pool="web",server="s1"} 1027',
      'fulcrum_server_requests_total{pool="web",server="s2"} 3 1796644975535',
      'fulcrum_workers 2',
      '',
      'fulcrum_server_response_seconds_bucket{pool="web",server="s1",le="+Inf"} 1027',
      'fulcrum_info{version="0.1.0",note="a \\"quoted\\" \\\\ value\\nand a line"} 1',
    ].join('\n');
    assert.deepEqual(parse(text), [
      { name: 'fulcrum_server_requests_total', labels: { pool: 'web', server: 's1' }, value: 1027 },
      { name: 'fulcrum_server_requests_total', labels: { pool: 'web', server: 's2' }, value: 3 },
      { name: 'fulcrum_workers', labels: {}, value: 2 },
      { name: 'fulcrum_server_response_seconds_bucket', labels: { pool: 'web', server: 's1', le: '+Inf' }, value: 1027 },
      { name: 'fulcrum_info', labels: { version: '0.1.0', note: 'a "quoted" \\ value\nand a line' }, value: 1 },
    ]);
    assert.deepEqual(parse('garbage line\n{}\n'), []);
  });

  it('quantiles as histogram_quantile: linear within the bucket, the last finite bound in +Inf', () => {
    const buckets: Array<[number, number]> = [[Infinity, 100], [0.1, 50], [0.2, 90], [0.5, 98]];
    assert.equal(histogramQuantile(buckets, 0.5), 0.1);
    assert.equal(histogramQuantile(buckets, 0.25), 0.05);
    assert.ok(Math.abs(histogramQuantile(buckets, 0.7)! - 0.15) < 1e-12);
    assert.ok(Math.abs(histogramQuantile(buckets, 0.94)! - 0.35) < 1e-12);
    assert.equal(histogramQuantile(buckets, 0.99), 0.5, 'in the +Inf bucket: the last finite bound');
    assert.equal(histogramQuantile([[0.1, 0], [Infinity, 0]], 0.5), null, 'nothing counted');
    assert.equal(histogramQuantile([], 0.5), null);
  });

  it('the served script carries both functions and parses', () => {
    assert.match(SCRIPT, /histogramQuantile/);
    assert.doesNotThrow(() => new Function(SCRIPT));
  });
});
