# Portico in a container: multi-stage, runs as the unprivileged `node` user on Node 24 LTS (slim).
#   docker build -t portico .
#   docker run -p 8080:8080 -v "$PWD/portico.yaml:/etc/portico/portico.yaml:ro" portico
# The config is read from /etc/portico/portico.yaml (mount yours there, with the hook modules and
# files it names beside it); secrets come from the environment (`${env:NAME}`) or mounted files.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY scripts ./scripts
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /opt/portico
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY deploy/container/portico.yaml /etc/portico/portico.yaml
USER node
EXPOSE 8080
# The admin listener of deploy/container/portico.yaml answers /healthz on loopback inside the container.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9180/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/portico/bin/portico.js"]
CMD ["start", "-c", "/etc/portico/portico.yaml"]
