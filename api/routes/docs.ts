// The API's own description, public: GET /openapi.json (OpenAPI 3.1, api/openapi.ts) and
// GET /docs, a Swagger UI page whose every file comes from this server (swagger-ui-dist), so
// that it works offline and behind a firewall.
import { createRequire } from 'node:module';
import path from 'node:path';
import { Router } from 'express';
import { openApiDocument } from '../openapi.js';

const swaggerUiDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** The only files of swagger-ui-dist served, with their types. */
const assets: Record<string, string> = {
  'swagger-ui.css': 'text/css',
  'swagger-ui-bundle.js': 'application/javascript',
  'favicon-32x32.png': 'image/png',
};

/** Public and the same for everyone: caches may keep them briefly (everything else is no-store). */
const BRIEFLY = 'public, max-age=300';

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sanscode API</title>
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// validatorUrl null: Swagger UI would otherwise fetch a badge from swagger.io.
const init = `SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', validatorUrl: null, deepLinking: true });\n`;

export function docsRoutes(): Router {
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.set('Cache-Control', BRIEFLY).json(openApiDocument());
  });
  router.get('/docs', (_req, res) => {
    res.set('Cache-Control', BRIEFLY).type('html').send(page);
  });
  router.get('/docs/:asset', (req, res, next) => {
    const { asset } = req.params;
    if (asset === 'init.js') return res.set('Cache-Control', BRIEFLY).type('application/javascript').send(init);
    const type = Object.hasOwn(assets, asset) ? assets[asset] : undefined;
    if (!type) return next();
    res.set('Cache-Control', BRIEFLY).type(type).sendFile(path.join(swaggerUiDir, asset));
  });
  return router;
}
