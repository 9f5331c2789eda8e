FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
COPY worker.ts ./
# Bundled once here, so workers start without webpack and without its memory.
RUN npm run bundle-workflows
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
EXPOSE 3000
# The API process; the worker service overrides the command with `node --import tsx worker.ts`.
CMD ["npm", "start"]
