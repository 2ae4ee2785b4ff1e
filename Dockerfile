# The rollbook worker image used by docker-compose.yml.
FROM node:20-bookworm-slim
WORKDIR /opt/rollbook
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
USER node
CMD ["node_modules/.bin/tsx", "workers/main.ts"]
