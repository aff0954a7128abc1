/**
 * The dashboard's files, served by the admin listener itself (nothing comes from the
 * internet): the page, its script and its style sheet.
 */
import type { Route } from '../routes.js';
import { pageHtml } from './page.js';
import { SCRIPT } from './script.js';
import { STYLE } from './style.js';

/** The routes of the dashboard; `tokenRequired` makes the page ask for the access token. */
export function DASHBOARD_ROUTES(tokenRequired: boolean): Route[] {
  const html = pageHtml(tokenRequired);
  return [
    { path: '/', methods: { GET: async () => ({ text: html, contentType: 'text/html; charset=utf-8' }) } },
    { path: '/dashboard.js', methods: { GET: async () => ({ text: SCRIPT, contentType: 'text/javascript; charset=utf-8' }) } },
    { path: '/dashboard.css', methods: { GET: async () => ({ text: STYLE, contentType: 'text/css; charset=utf-8' }) } },
  ];
}
