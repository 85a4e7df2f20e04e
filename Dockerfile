# The sanscode app (API + IVR). Build: docker build -t sanscode .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Served as files next to the build: the widget, and the demo page (only used with DEMO=true).
COPY --from=build /app/web ./web
COPY --from=build /app/demo/page.html ./demo/page.html
COPY package.json ./
USER node
EXPOSE 3000
CMD ["node", "dist/bin/sanscode.js", "all"]
