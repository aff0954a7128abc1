/** The defaults of the `admin:` section, filled in by schema.ts. */
/**
 * Admin listener: loopback only, port 9090 (Prometheus' own port is 9090 too, but a
 * balancer's admin port is usually scraped from elsewhere, and the example keeps it),
 * with the dashboard and the metrics on.
 */
export const DEFAULT_ADMIN = Object.freeze({
  listen: '127.0.0.1:9090',
  dashboard: true,
  metrics: true,
});
