# A compiler-free project for fast tests of sync, exec and commit.
FROM busybox:local
RUN echo 'app:x:1234:1234::/app:/bin/sh' >>/etc/passwd && echo 'app:x:1234:' >>/etc/group
WORKDIR /app
COPY --chown=app:app data ./data
COPY build.sh ./
RUN sh build.sh
USER app
ENV APP_MODE=test
LABEL fixture=busybox-app
CMD ["cat", "/app/out.txt"]
