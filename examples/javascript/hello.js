// A wasi:http handler in JavaScript (componentize-js's fetch-event API): it answers with the
// method, path, a name from the query and the request body; with `?fetch=URL` it calls URL
// (an allowed outbound host) and answers with what came back.
async function handle(request) {
  const url = new URL(request.url);
  const target = url.searchParams.get('fetch');
  if (target) {
    try {
      const r = await fetch(target, { method: 'POST', headers: { 'x-from': 'js' }, body: 'ping' });
      return new Response(`fetched ${r.status} ${await r.text()}\n`);
    } catch (e) {
      return new Response(`fetch failed: ${e}\n`, { status: 502 });
    }
  }
  const body = await request.text();
  const who = url.searchParams.get('name') ?? 'world';
  return new Response(`hello ${who} from JavaScript: ${request.method} ${url.pathname} ${body}\n`, {
    status: url.pathname.endsWith('/teapot') ? 418 : 200,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'x-lang': 'javascript' },
  });
}

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));
