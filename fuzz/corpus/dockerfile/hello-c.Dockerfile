FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc make libc6-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY Makefile ./
COPY include ./include
COPY src ./src
RUN make

ENV GREETING_STYLE=plain
EXPOSE 8080
LABEL org.opencontainers.image.title="hello-c" \
      org.opencontainers.image.description="docker-rebuilder's bundled example"
CMD ["/src/hello"]
