ARG BASE=alpine:3.19
ARG TAG
FROM --platform=$BUILDPLATFORM golang:1.22 AS Build-Env
WORKDIR /go/src/${APP:-app}
COPY --chown=1000:1000 --chmod=644 go.mod go.sum ./
RUN --mount=type=cache,target=/root/.cache go mod download
COPY . .
RUN ["go", "build", "-o", "/out/app", "./..."]
ENV A=1 B="two words" C='$A' \
    D=${A:+set}
LABEL x=y
FROM ${BASE}
ARG BASE
COPY --from=build-env /out/app /usr/local/bin/
SHELL ["/bin/bash", "-c"]
HEALTHCHECK --interval=5s CMD true
ONBUILD RUN echo hi
USER nobody
EXPOSE 80/tcp 443
VOLUME ["/data"]
ENTRYPOINT app
