# One image, one process, one volume. Build: docker build -t mailserver .
# Stage 1 compiles TypeScript and the native SQLite module; stage 2 carries only the
# built code and production dependencies.
FROM node:26-slim AS build
WORKDIR /app
# better-sqlite3 builds from source when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:26-slim
# setcap lets the unprivileged user bind ports below 1024 (25, 80, 110, 143, 465, 587, 993, 995);
# zstd packs "mailserver backup <file>.tar.zst" archives (docs/backup.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin tini zstd \
 && setcap cap_net_bind_service=+ep "$(readlink -f /usr/local/bin/node)" \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config ./config
RUN chmod +x dist/cli/main.js \
 && ln -s /app/dist/cli/main.js /usr/local/bin/mailserver \
 && mkdir -p /data && chown node:node /data
USER node
ENV NODE_ENV=production \
    MAILSERVER_DATA=/data \
    MAILSERVER_PROFILE=production
VOLUME /data
EXPOSE 25 80 110 143 443 465 587 993 995 4190
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.MAILSERVER_PORT_HTTP || 80) + '/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["tini", "--"]
# dist/cli/main.js itself, not `node dist/cli/main.js`: its first line sets the memory settings.
CMD ["mailserver", "serve"]
