#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rcomm.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
int main(int argc,char**argv){
  rcomm_comm_t *c; int rank,size; int mem = argc>1 && atoi(argv[1]);
  if (rcomm_comm_create_from_env(&c)) return 1;
  rcomm_comm_rank(c,&rank); rcomm_comm_size(c,&size);
  size_t sizes[]={1024,16384,65536,262144,1<<20,4<<20,16<<20};
  for (int si=0; si<7; si++){ size_t b=sizes[si]; float *buf;
    if (mem) rcomm_mem_alloc(c,b,(void**)&buf); else buf=malloc(b);
    for(size_t i=0;i<b/4;i++) buf[i]=1;
    int it = b < 100000 ? 2000 : b < 2000000 ? 200 : 20;
    double best=1e9;
    for (int rep=0; rep<3; rep++){
      rcomm_barrier(c); double t0=now();
      for(int i=0;i<it;i++){ rcomm_request_t*r; rcomm_iallreduce(c,RCOMM_IN_PLACE,buf,b/4,RCOMM_F32,RCOMM_MAX,RCOMM_ALGO_AUTO,&r); rcomm_wait(r);}
      double t=(now()-t0)/it*1e6; if(t<best)best=t;}
    if(rank==0) printf("%s %zu B: %.2f us\n", mem?"mem_alloc":"malloc", b, best);
    if (mem) rcomm_mem_free(c,buf); else free(buf);
  }
  rcomm_comm_destroy(c); return 0;}
