# syntax=docker/dockerfile:1
# modelpack-operator container image. One image, two roles:
#   operator:        <image> run --namespace=... --init-image=<this image> ...
#   init container:  <image> pull REFERENCE --dest DIR   (injected by the admission webhook)
# Build:  docker build -t modelpack-operator:0.1.0 .
# Without Docker: npm run image -- --push REGISTRY/modelpack-operator:0.1.0 (scripts/image/) builds
# the same runtime stage as a reproducible OCI image; test/shipping/image-build.test.ts compares it
# with this file (config, files), so keep the two in step when you change either.
# The runtime image has no shell and no package manager, runs as UID/GID 65532 and needs no
# writable path (it works with readOnlyRootFilesystem: true; `pull --dest` writes to a volume).

ARG NODE_VERSION=24.21.0
# Any Node 24 image with /usr/local/bin/node works as the runtime base, e.g. a distroless Node 24
# image (pass --build-arg RUNTIME_BASE=...); the default is the official slim image, from which
# the final stage copies only the node binary and the shared libraries it needs.
ARG BUILD_BASE=node:${NODE_VERSION}-bookworm-slim

# ---- build: compile TypeScript, then keep production dependencies only ----
FROM ${BUILD_BASE} AS build
WORKDIR /src
ENV NODE_ENV=development npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
# No install scripts: the build needs only typescript (pure JS); no production dependency is native.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts \
 && mkdir -p /out/app \
 && cp -r dist package.json node_modules /out/app/ \
 && find /out/app/dist -name '*.test.*' -delete \
 && rm -rf /out/app/dist/test /out/app/dist/scripts /out/app/dist/bench

# ---- rootfs: node and its libraries, nothing else (no shell, no npm) ----
FROM ${BUILD_BASE} AS rootfs
RUN set -eu; mkdir -p /rootfs/usr/local/bin /rootfs/etc /rootfs/tmp /rootfs/app; \
    cp /usr/local/bin/node /rootfs/usr/local/bin/node; \
    for lib in $(ldd /usr/local/bin/node | awk '/=>/ {print $3} /ld-linux/ {print $1}'); do \
      mkdir -p "/rootfs$(dirname "$lib")"; cp -L "$lib" "/rootfs$lib"; \
    done; \
    cp -r /etc/ssl /rootfs/etc/ssl 2>/dev/null || true; \
    echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > /rootfs/etc/passwd; \
    echo 'nonroot:x:65532:' > /rootfs/etc/group; \
    mkdir -p /rootfs/home/nonroot; chown 65532:65532 /rootfs/home/nonroot; chmod 1777 /rootfs/tmp

# ---- runtime ----
FROM scratch AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="modelpack-operator" \
      org.opencontainers.image.description="Kubernetes operator that mounts CNCF ModelPack model artifacts from OCI registries into pods" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="scratch"
COPY --from=rootfs /rootfs/ /
COPY --from=build --chown=0:0 /out/app/ /app/
ENV NODE_ENV=production HOME=/home/nonroot PATH=/usr/local/bin
WORKDIR /app
USER 65532:65532
# 8081: /healthz, /readyz, /metrics; 9443: the admission webhook (HTTPS).
EXPOSE 8081 9443
# Same V8 flag as src/cli/bin.ts's shebang: a small young generation keeps RSS low.
ENTRYPOINT ["node", "--max-semi-space-size=2", "/app/dist/src/cli/bin.js"]
CMD ["--help"]
