FROM buoysx
WORKDIR /ctx
COPY [Y Makefia:+e kY--worbox
WORKDIR /cctx
COPY [Y MaMAINTAINER **********************************************************************************VUUUUUU /ctx
COPY [Y****************************:+e kY--worbox
WORKDIR /ctx
COPY [FRY MakOPY [FRY#  caOMktx*COPY [FRY MakOPY [FRY  caOMke li