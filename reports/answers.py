"""The words of the report that are not evidence: each section's question and the explanations it asks for.

Kept apart from the queries and figures so the prose can be read (and
corrected) in one place. Explanations are templates too: they hold no digit,
and where they cite a number it is a fact passed in by the section. Where a
textbook expectation may or may not hold, there are two texts and the section
picks by the evidence.
"""

TITLES = {
    "2.1": "Sample images and look-alike classes",
    "2.2": "Hyperparameter search",
    "2.3": "Optimizers over the first epochs",
    "2.4": "Vanishing gradients: sigmoid vs ReLU",
    "2.5": "Activations and dead neurons",
    "2.6": "Mean squared error vs cross-entropy",
    "2.7": "Train vs test accuracy",
    "2.8": "The best model and its failures",
    "2.9": "Zeros vs Xavier initialisation",
    "2.10": "Three MNIST configurations on Fashion-MNIST",
}

QUESTIONS = {
    "2.1": "Which classes look alike in their raw pixels, and how might that affect the model?",
    "2.2": "Which hyperparameter matters most for validation accuracy, and which configuration is best?",
    "2.3": "Which optimizer converges fastest over the first epochs on the same network, and why?",
    "2.4": "With Adam, do sigmoid networks suffer vanishing gradients that ReLU networks do not, and how does "
           "depth change that?",
    "2.5": "At a high learning rate, does a ReLU network lose neurons for good, and how do its activations and "
           "gradients differ from tanh's?",
    "2.6": "Which loss, mean squared error or cross-entropy, converges faster, by how much, and why?",
    "2.7": "Which runs overfit (train accuracy well above test accuracy), by how much, and what do they share?",
    "2.8": "Which classes does the best model confuse, and what do its failures look like?",
    "2.9": "With all weights zero at the start, do the neurons of a layer ever become different? Why must "
           "initialisation break symmetry?",
    "2.10": "Which three configurations, chosen from the MNIST results alone, do best on Fashion-MNIST, and does "
            "the MNIST winner win there too?",
}

SIMILAR_AND_CONFUSED = (
    "An MLP sees an image only as a vector of pixel intensities, so two classes whose ink falls in the same places "
    "lie close together in its input space: it has to learn the few pixels where they differ, and an unusual "
    "writer or garment tips an image across that boundary. That is what happens here: the pairs most alike in raw "
    "pixels are also among the trained models' most frequent confusions, and Fashion-MNIST, whose most alike "
    "pair scores {fashion_top} against MNIST's {mnist_top}, is the harder dataset.")
SIMILAR_NOT_CONFUSED = (
    "An MLP sees an image only as a vector of pixel intensities, so raw similarity is where one expects errors; "
    "here the trained models' confusions are not the pairs most alike in raw pixels, so training has learned "
    "features that separate those pairs better than a mean image does.")

# 2.2: why the most important hyperparameter matters, by its name.
WHY_IMPORTANT = {
    "learning_rate": "The learning rate sets the size of every step: too small and a few epochs end far from a "
                     "minimum, too large and the loss jumps out of the valley or kills ReLU units (see the "
                     "dead-neuron section). Its good range also depends on the optimizer: adaptive methods want "
                     "small rates, plain SGD larger ones.",
    "optimizer": "The optimizer decides how a gradient becomes a step; with a learning rate drawn over three "
                 "decades, plain SGD barely moves in a few epochs where the adaptive methods, which scale every "
                 "weight's step by its own gradient history, make steady progress at any rate in the range.",
    "activation": "Sigmoid saturates and passes at most a quarter of the gradient through each layer, so deep "
                  "sigmoid networks learn slowly in a few epochs; ReLU passes the gradient unchanged wherever a "
                  "unit is active.",
    "num_layers": "Depth sets how far the gradient must travel: in a few epochs deep networks, especially with "
                  "saturating activations, are still learning when shallow ones have converged.",
    "hidden_size": "Width sets the capacity of each layer: narrow layers cannot hold enough features for the "
                   "harder digits.",
    "batch_size": "The batch size sets how many steps an epoch takes: small batches make many more, noisier "
                  "updates in the same number of epochs, which over a short budget is usually a win.",
    "weight_init": "The initialisation decides whether the signal survives the first passes: tiny random "
                   "weights shrink activations and gradients layer by layer, while Xavier keeps their scale.",
    "weight_decay": "Weight decay pulls every weight towards zero each step: a strong decay fights the data "
                    "term and lowers accuracy over a short budget.",
    "epochs": "More epochs are more steps: over a budget this short most runs are still improving.",
}

WHY_FAST = {  # by the fastest optimizer's ``adaptive`` (mlp.optimizers)
    True: "Adaptive methods divide each weight's step by a running average of its own squared gradients, so "
          "weights whose gradients are small (rarely lit border pixels, the layers far from the output) still "
          "move at a useful rate and one learning rate suits every layer; Adam and Nadam also average the "
          "direction like momentum does, and Nadam takes the step momentum is about to make. Plain SGD "
          "multiplies the raw gradient by one global rate, so it crawls along the flat directions of the loss.",
    False: "Momentum methods add up past gradients, so steps grow along directions the gradient keeps pointing "
           "to and cancel where it oscillates; here that beat the adaptive methods, whose per-weight scaling "
           "did not help this well-conditioned problem at these learning rates.",
}

LEAD_VANISHING = ("Yes: in sigmoid networks less and less gradient reaches the layers near the input, the more so "
                  "the deeper the network, while ReLU networks pass it back almost whole; Adam keeps even the "
                  "deepest sigmoid network training.")
LEAD_NOT_VANISHING = ("Not in this measurement: the gradient reaching a sigmoid network's first layer does not fall "
                      "behind ReLU's as depth grows.")
VANISHING = (
    "Backpropagation multiplies the error by the activation's slope once per layer; "
    "sigmoid's slope is at most {max_slope}, so every sigmoid layer cuts the signal, while ReLU's slope is one "
    "wherever a unit is active. Adam hides much of the cost: it divides each weight's step by the size of that "
    "weight's own recent gradients, so the first layer still takes normal-sized steps, which is why even the "
    "deepest sigmoid network here trains (validation accuracy {sigmoid_acc} against ReLU's {relu_acc}).")
NOT_VANISHING = (
    "So the textbook effect does not show: sigmoid's first-to-last ratio does not fall below ReLU's as depth grows. "
    "Backpropagation multiplies the error by the activation's slope once per layer and "
    "sigmoid's slope is at most {max_slope}, but the weights also multiply it, and at these depths and widths "
    "the sum over many units makes up for the small slopes; Adam, which scales each weight's step by its own "
    "gradient size, would hide the effect on learning anyway (validation accuracy {sigmoid_acc} against ReLU's "
    "{relu_acc} at the greatest depth).")

LEAD_DEAD = ("Yes: at this high learning rate a ReLU network loses most of its neurons for good and stops learning, "
             "with its activations piled at zero and no gradient left in its layers; tanh's neurons saturate at plus "
             "or minus one instead.")
LEAD_NOT_DEAD = ("No: at this high learning rate the ReLU network stalls, but few of its neurons die; what differs "
                 "from tanh is where the activations pile up, not whether the units pass gradient back.")
DEAD_RELU = (
    "A large step can push a ReLU unit's weights and bias so far that its input is negative for every image; "
    "from then on its output and its slope are zero, no gradient reaches its weights, and nothing can revive it. "
    "The gradients show it: the layers with the most dead units receive the least gradient, and a network whose "
    "units have mostly died stops learning.")
TANH_RECOVERS = (
    "A tanh unit that overshoots saturates instead; its slope becomes small but never exactly zero and its output "
    "still carries a sign, so it keeps learning, if slowly.")
TANH_SATURATED = (
    "Tanh fared no better here: the same steps drove its units to plus or minus one on every image, where its "
    "slope is almost zero, so it stalled too, by saturation rather than death. The difference is one of degree: "
    "a saturated tanh unit's slope is tiny but not exactly zero, so it can in principle recover, while a dead ReLU "
    "unit cannot. The culprit is the size of the steps: the other runs at the same learning rate, with another "
    "optimizer, keep their units and train well ({others}).")
NO_DEAD_RELU = (
    "The textbook failure, ReLU units pushed by a large step to output zero on every input, is not what stalled "
    "this run: few of its units are dead. A ReLU unit with zero output also has zero slope and gets no gradient, "
    "which is why dead units never recover, but here the plateau comes from the size of the steps themselves, "
    "which throw the weights back and forth across the minimum.")

LEAD_CROSS_ENTROPY = "Cross-entropy converges faster than mean squared error, with every optimizer tried."
WHY_CROSS_ENTROPY = (
    "With softmax outputs, cross-entropy's gradient with respect to the logits is just the predicted "
    "probabilities minus the one-hot target, as large as the error itself. Mean squared error multiplies that "
    "error by the softmax's own slope, which is small exactly when the network is confidently wrong, and its "
    "penalty for a wrong class is bounded while cross-entropy's grows without limit as the true class's "
    "probability goes to zero. So cross-entropy pushes hardest where the model is most wrong, and MSE learns "
    "slowly from its worst mistakes.")
LEAD_LOSS_MIXED = ("Not with every optimizer: cross-entropy does not converge faster than mean squared error in "
                   "every pair.")
MSE_NOT_SLOWER = (
    "That disagrees with the textbook expectation for every optimizer here: cross-entropy's gradient, the "
    "predicted probabilities minus the target, should push harder than MSE's, which the softmax's slope "
    "shrinks when the network is confidently wrong. An adaptive optimizer rescales the gradient per weight, "
    "which can erase much of that difference.")

RELU_ZEROS = (
    "With ReLU it is worse still: zero inputs give zero slope, so no gradient reaches the hidden layers at all "
    "(their gradient norms stay exactly zero).")

OVERFITTING = (
    "Training accuracy keeps rising as a network fits (and eventually memorises) its own training images, while "
    "test accuracy measures only what transfers to new ones; the gap between them is that memorisation.")
OVERFIT_LONGEST = (
    "The widest gaps belong to the runs trained longest: every extra epoch over the same images is more time to "
    "memorise them, which augmentation (shifted images) and weight decay slow down but do not stop. Most runs "
    "sit near the diagonal because a few epochs leave little time to memorise.")
OVERFIT_NOT_LONGEST = (
    "Here the widest gaps do not come from the longest runs, so training time alone does not explain them; the "
    "runs listed below show which configurations open them.")

CONFUSIONS = (
    "These are classes whose ink falls in much the same places, as the raw-pixel measure of the first section "
    "shows: the model separates them by a few pixels, and an unusual hand tips an image to the wrong side. The "
    "gallery shows the mistakes the model was surest of, which is where to look for images a person would also "
    "misread, or labels that are themselves doubtful.")
CONFUSIONS_NOT_RAW = (
    "These are not the pairs most alike in raw pixels (first section): the model has learned to separate those, "
    "and its remaining errors come from unusual hands rather than from look-alike classes. The gallery shows the "
    "mistakes the model was surest of, which is where to look for images a person would also misread, or labels "
    "that are themselves doubtful.")

SYMMETRY = (
    "If every weight starts at zero, every neuron of a layer computes the same output, receives the same error "
    "and gets the same update, so the neurons stay copies of each other for ever and the layer works like a "
    "single neuron, however wide.")
WHY_RANDOM = (
    "Random starting weights such as Xavier's make each neuron compute something different from the first step, "
    "which is what lets them specialise; Xavier also scales them so the signal keeps its size from layer to layer.")

FASHION = (
    "Clothing is harder than digits: shirts, pullovers and coats share one silhouette (Fashion-MNIST's most alike "
    "raw pair scores far above MNIST's, first section), so the same kind of network loses several points of "
    "accuracy. What carries over from MNIST is what makes optimisation work: the optimizer, learning rate, "
    "schedule and initialisation of the best MNIST runs. What does not carry over is the length of training: "
    "the fine differences between garments are learned late, and validation accuracy kept rising with "
    "longer training, while small random shifts add variety without changing the garment. More layers, "
    "mirroring and dropout did not raise validation accuracy in our trials: networks this narrow are short of "
    "capacity rather than of regularisation, and mirroring shows shoes facing the other way, which "
    "no Fashion-MNIST shoe does.")
