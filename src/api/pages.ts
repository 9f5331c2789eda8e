import type { Response } from 'express';

// Pages a person reads (the invite link's, a sign-in's answer): plain HTML, readable at a phone's width.

export const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char);

/** `head`: more of the page's head (Open Graph tags, say), already escaped. */
export function page(title: string, body: string, head = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>${head}
<style>
body{font-family:system-ui,sans-serif;font-size:1.125rem;line-height:1.6;max-width:32rem;margin:0 auto;padding:2rem 1rem;color:#111;background:#fff}
h1{font-size:1.75rem;line-height:1.3}
.button{display:block;text-align:center;background:#0b57d0;color:#fff;padding:1rem;border-radius:.5rem;text-decoration:none;font-weight:600;margin:1.5rem 0}
.button:focus{outline:3px solid #111;outline-offset:3px}
ul{padding-left:1.2rem}
</style>
</head>
<body><main>${body}</main></body>
</html>`;
}

/** A page that says what happened, in words, with the status it answers. */
export function answerPage(res: Response, status: number, title: string, message: string, extra = '') {
  res.status(status).type('html').send(page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${extra}`));
}

/** For the pages that run scripts (the dashboard, the API reference): this origin's scripts and styles only, no inline script, never framed. */
export const OWN_SCRIPTS_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "form-action 'self'",
  "base-uri 'none'",
  "object-src 'none'",
].join('; ');
