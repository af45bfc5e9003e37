-- Prints wrk's own latency percentiles (microseconds, exact: wrk keeps every value) as one JSON
-- line at the end, so that the higher percentiles (p99.9, p99.99) are not lost to --latency's
-- four rows. Defines no request() or response() function, so wrk keeps its fast static path.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_WRK {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p75":%d,"p90":%d,"p99":%d,' ..
    '"p99.9":%d,"p99.99":%d,"mean":%.1f,"max":%d}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency:percentile(99.99),
    latency.mean, latency.max))
end
