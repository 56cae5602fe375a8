import * as tf from '@tensorflow/tfjs';
await import('@tensorflow/tfjs-backend-wasm');
await tf.setBackend(process.argv[2]);
const gatherRows = tf.customGrad((table, ids, save) => {
  save([ids]);
  return { value: tf.gather(table, ids), gradFunc: (dy, saved) => [tf.scatterND(saved[0].expandDims(1), dy, table.shape), tf.zerosLike(saved[0])] };
});
const w = tf.variable(tf.randomNormal([10,8]));
const e = tf.variable(tf.randomNormal([50,10]));
const ids = tf.tensor1d([1,2,3,1],'int32');
const {value,grads} = tf.variableGrads(()=>{
  const x = gatherRows(e, ids); // [4,10]
  const h = tf.matMul(x, w); //[4,8]
  const h2 = tf.tanh(h).mul(tf.sigmoid(h)).add(h.pow(3));
  const m = tf.moments(h2, -1, true);
  const y = h2.sub(m.mean).mul(tf.rsqrt(m.variance.add(1e-5)));
  const l = tf.matMul(y, w, false, true); // [4,10]
  const r4 = l.reshape([1,2,2,10]).transpose([0,2,1,3]);
  const att = tf.softmax(tf.matMul(r4, r4, false, true).add(tf.linalg.bandPart(tf.ones([2,2]),-1,0)));
  const o = tf.matMul(att, r4);
  const lse = tf.logSumExp(o, -1);
  const g = gatherRows(o.reshape([-1,1]), tf.tensor1d([0,5,17],'int32'));
  const c = tf.concat([o.slice([0,0,0,0],[1,2,2,5]).neg(), o.slice([0,0,0,5],[1,2,2,5])],-1);
  const cs = tf.cumsum(tf.tensor1d([1,1,0],'int32'));
  return lse.sum().add(g.sum()).add(c.square().mean()).add(tf.where(tf.tensor1d([true,false,true]).reshape([1,3]).tile([1,1]), tf.ones([1,3]), tf.zeros([1,3])).sum()).add(tf.sqrt(tf.square(l).mean()))
});
console.log(value.dataSync(), Object.keys(grads), grads[e.name].sum().dataSync(), tf.memory().numTensors);
