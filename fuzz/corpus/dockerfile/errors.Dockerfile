RUN before from
FROM a
COPY onlyone
