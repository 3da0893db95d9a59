// A wasi:http handler in JavaScript (componentize-js's fetch-event API): it answers with the
// method, path, a greeting from the `GREETING` variable if set, and the request body.
addEventListener('fetch', (event) => event.respondWith((async () => {
  const url = new URL(event.request.url);
  const body = await event.request.text();
  const who = url.searchParams.get('name') ?? 'world';
  return new Response(`hello ${who} from JavaScript: ${event.request.method} ${url.pathname} ${body}\n`, {
    status: url.pathname.endsWith('/teapot') ? 418 : 200,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'x-lang': 'javascript' },
  });
})()));
