-- Passed to wrk with -s by bench/lib/wrk.ts: prints the latency percentiles that
-- --latency leaves out (wrk keeps every sample, so p99.9 is exact), in microseconds.
done = function(summary, latency, requests)
  for _, p in ipairs({ 50, 99, 99.9 }) do
    io.write(string.format("percentile %g %d us\n", p, latency:percentile(p)))
  end
end
