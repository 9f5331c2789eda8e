FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
COPY worker.ts ./
EXPOSE 3000
# The API process; the worker service overrides the command with `npm run worker`.
CMD ["npm", "start"]
